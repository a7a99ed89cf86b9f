"""Padded at random vs bucketed by length: how much of a batch is padding, and what it costs.

The IMDb training reviews as the sequences lesson encodes them (word ids, the first 400 tokens; 128
with ``--quick``), batches of 64. For each way of drawing batches: the share of the padded tensor
that is padding, and the real (non-padding) tokens per second of a training step of the lesson's
BiLSTM (two fused LSTM passes over the padded batch, so it computes over the padding too) and of
its 1-D CNN (which convolves over the padding). Medians over the same number of batches each way,
with denormal floats flushed to zero as the lesson's recipes do.

Usage: ``E2EDL_MIRROR=... python benchmarks/padding_vs_bucketing.py [--threads 2] [--batches 30] [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from e2edl.data.bucketing import padding_share, random_batches
from e2edl.data.sequence_loader import text_collate
from e2edl.figures import Table
from e2edl.nn.text_classifiers import BiLSTMClassifier, TextCNN
from e2edl.recipes.sequences import flush_denormals, imdb_setup, tokenize_imdb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batches", type=int, default=30, help="training steps timed per way and model")
    parser.add_argument("--quick", action="store_true", help="the quick-mode subset of reviews")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    words = tokenize_imdb(imdb_setup(args.quick)).words()
    train, pad_id, vocab = words.train, words.vocabulary.pad_id, len(words.vocabulary)
    lengths = train.lengths
    ways = {
        "random": random_batches(len(lengths), 64, seed=0),
        "bucketed": words.loader("train", 64, shuffle=True, seed=0).batches(),
    }
    models = {"BiLSTM": BiLSTMClassifier(vocab, pad_id=pad_id), "CNN": TextCNN(vocab, pad_id=pad_id)}
    rows = []
    for way, batches in ways.items():
        row = {"batches": way, "padding_share": padding_share(batches, lengths)}
        for name, model in models.items():
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            times, tokens = [], []
            for batch in batches[: args.batches + 2]:
                (padded, batch_lengths), labels = text_collate(
                    [(train.sequences[i], int(train.labels[i])) for i in batch.tolist()], pad_id
                )
                start = time.perf_counter()
                loss = nn.functional.cross_entropy(model((padded, batch_lengths)), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                times.append(time.perf_counter() - start)
                tokens.append(int(batch_lengths.sum()))
            times, tokens = times[2:], tokens[2:]  # the first two warm up
            row[f"{name} real tokens/s"] = sum(tokens) / sum(times)
            row[f"{name} median step ms"] = 1000 * statistics.median(times)
        rows.append(row)
    print(f"IMDb training reviews ({len(lengths):,}), batches of 64, {torch.get_num_threads()} threads")
    print(Table(rows, formats={k: ".0f" for k in rows[0] if k != "batches"} | {"padding_share": ".3f"}))


if __name__ == "__main__":
    with flush_denormals():
        main()
