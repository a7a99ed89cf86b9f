"""The gpt lesson's experiment: a character-level GPT on Tiny Shakespeare, checked against its
oracles, trained faster than nanoGPT, then tokenizers, the KV cache and SmolLM2.

Every validation score is taken on the same fixed set: every complete window of the model's
context in the last 10% of Tiny Shakespeare (``validation_batches``), in nats per character.

- **Oracles**: the trained model's weights in Hugging Face's ``GPT2LMHeadModel`` give the same
  logits; a random GPT-2's weights in ours too; 20 greedy tokens agree.
- **Training** (``e2edl.recipes.gpt``): nanoGPT's own CPU configuration (``NANOGPT_CPU``), our
  recipe for the same model shape (``FAST``), and in full mode the best model of about 15 minutes
  (``LONG``). The notebook trains the first two (and the third, in full mode) in the open into
  ``out/nanogpt-cpu``, ``out/fast`` and ``out/long``; with ``resume=True`` this run reuses them.
  Final scores are re-taken in float32, whatever precision the run trained in.
- **What each change buys**: milliseconds per step of the same model, one change at a time.
- **Samples** at a fixed seed; the **KV cache**: greedy decoding equal with and without it, and a
  table of tokens/s.
- **BPE**: ours trained on the training text; ours with GPT-2's merges against tiktoken on all
  of Tiny Shakespeare and a Unicode torture text; tokens/s of ours, tiktoken and HF tokenizers.
- Full mode only: **SmolLM2-135M-Instruct** (4-bit weights, de-quantised) in our ``Llama`` against
  ``transformers``; a small **scaling** experiment (4 widths, one token budget).

The sequences lesson's character LSTM is drawn on the same val-loss-vs-seconds axis when its run
is found beside this one (``out/../NN_sequences/char-lstm/metrics.jsonl``: the same machine).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import replace

import matplotlib.pyplot as plt
import torch

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data import load_tinyshakespeare
from e2edl.data.bpe import BPETokenizer, gpt2_tokenizer, hf_gpt2_tokenizer, tiktoken_gpt2
from e2edl.data.text_windows import CharSplits
from e2edl.figures import Table
from e2edl.nn.generate import generate, generation_speed
from e2edl.nn.gpt import GPT, GPTConfig, NextTokenLoss, from_hf_gpt2, to_hf_gpt2
from e2edl.recipes.gpt import (
    FAST,
    FAST_QUICK,
    LONG,
    NANOGPT_CPU,
    NANOGPT_CPU_QUICK,
    build_gpt,
    train_gpt,
    validation_batches,
)
from e2edl.train.fit import evaluate
from e2edl.train.seeding import seed_everything

SAMPLE_SEED = 0
# Scripts, combining marks, emoji sequences, odd whitespace, contractions: what breaks tokenizers.
UNICODE_TEXT = (
    "Ça va? Déjà vu — naïve façade. e\u0301 vs é; ﬁne ligatures; 𝕄𝕒𝕥𝕙 letters.\n"
    "日本語のテキスト、中文，한국어, العربية, עברית, हिन्दी, ไทย.\n"
    "Emoji: 👍🏾 👩‍👩‍👧 🏴‍☠️ 🇳🇿 ✌︎; zero\u200bwidth, nbsp\u00a0here, tab\there,\r\nCRLF.\n"
    "I'M SURE we'll've they'RE 's 't 123456 3.14159 ½ ⅔ ٣٤ x²\n"
    "   leading spaces, trailing spaces   \n\n\n"
)


# ------------------------------------------------------------------------------------------ oracle


def hf_oracle(trained: GPT, prompt: torch.Tensor, n_new: int = 20) -> dict:
    """Our trained GPT's weights in ``GPT2LMHeadModel``, and a random GPT-2's weights in ours:
    the largest logit difference of the two, and whether 20 greedy tokens agree.

    The logits are compared in float64, where two correct implementations agree to about 1e-12
    whatever the model's size; float32's difference is shown too. It grows with the logits: the
    6-layer ``LONG`` model's trained logits differed by 1.9e-5 in float32, which is rounding (the
    order of the sums differs), not a different computation."""
    import copy

    from transformers import GPT2Config, GPT2LMHeadModel

    def largest_difference(ours: GPT, hf, idx: torch.Tensor) -> tuple[float, float]:
        with torch.no_grad():
            single = (ours(idx) - hf(idx).logits).abs().max().item()
            double = (
                (copy.deepcopy(ours).double()(idx) - copy.deepcopy(hf).double()(idx).logits)
                .abs()
                .max()
                .item()
            )
        return single, double

    trained = trained.cpu().float().eval()
    cfg = trained.cfg
    theirs = GPT2LMHeadModel(GPT2Config(**cfg.hf_kwargs(), attn_implementation="eager")).eval()
    theirs.load_state_dict(to_hf_gpt2(trained.state_dict()))
    idx = torch.randint(cfg.vocab_size, (4, cfg.block_size), generator=torch.Generator().manual_seed(1))
    ours_to_hf = largest_difference(trained, theirs, idx)
    mine = generate(trained, prompt, n_new, temperature=0)
    hf_ids = theirs.generate(
        prompt, max_new_tokens=n_new, do_sample=False, attention_mask=torch.ones_like(prompt), pad_token_id=0
    )

    seed_everything(3)  # and the other way: a random GPT-2 (biases, tanh-GELU) into ours
    small = GPTConfig(vocab_size=97, block_size=48, n_layer=3, n_head=4, n_embd=64)
    hf = GPT2LMHeadModel(GPT2Config(**small.hf_kwargs(), attn_implementation="eager")).eval()
    with torch.no_grad():  # HF initialises biases and LayerNorms to 0 and 1: make them random too
        for name, p in hf.named_parameters():
            if p.ndim == 1:
                p.normal_(1.0 if "ln_" in name and name.endswith(".weight") else 0.0, 0.1)
    ours = GPT(small).eval()
    ours.load_state_dict(from_hf_gpt2(hf.state_dict()))
    idx = torch.randint(small.vocab_size, (4, small.block_size), generator=torch.Generator().manual_seed(2))
    hf_to_ours = largest_difference(ours, hf, idx)
    return {
        "hf_logit_difference": max(ours_to_hf[1], hf_to_ours[1]),
        "hf_logit_difference_float32": max(ours_to_hf[0], hf_to_ours[0]),
        "hf_greedy_same": float(torch.equal(mine, hf_ids)),
        "rows": [
            {"direction": "our trained model → GPT2LMHeadModel", "max |logit difference|, float64": ours_to_hf[1],
             "float32": ours_to_hf[0], f"{n_new} greedy tokens equal": bool(torch.equal(mine, hf_ids))},
            {"direction": "random GPT-2 (biases, tanh-GELU) → our GPT", "max |logit difference|, float64": hf_to_ours[1],
             "float32": hf_to_ours[0]},
        ],
    }  # fmt: skip


# ---------------------------------------------------------------------------------------- training


def final_val_loss(model: GPT, data: CharSplits) -> float:
    """The fixed validation set, scored in float32 (a bf16 run's records were scored in bf16)."""
    loss = evaluate(model, validation_batches(data, model.cfg.block_size), NextTokenLoss(), amp=False)["loss"]
    return loss


def step_times(data: CharSplits, variants: dict[str, object], steps: int, warmup: int) -> list[dict]:
    """Milliseconds per training step (median of ``steps``, after ``warmup``) of each recipe's
    model and optimiser, with the training FLOP/s it achieves; ``compile`` time reported apart."""
    from e2edl.train.batches import RandomBatches

    rows = []
    for label, recipe in variants.items():
        seed_everything(0)
        started = time.perf_counter()
        model = build_gpt(recipe)
        optimizer = torch.optim.AdamW(model.param_groups(recipe.weight_decay), lr=recipe.lr / 10,
                                      fused=recipe.fused_optimizer or None)  # fmt: skip
        batches = RandomBatches(data.train_ids, recipe.model.block_size, recipe.batch_size)
        loss_fn, times = NextTokenLoss(), []
        for i in range(warmup + steps):
            x, y = next(batches)
            start = time.perf_counter()
            with torch.autocast("cpu", torch.bfloat16, enabled=bool(recipe.amp)):
                loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            optimizer.step()
            times.append(time.perf_counter() - start)
            if i == warmup - 1:
                first_steps = time.perf_counter() - started
        seconds = statistics.median(times[warmup:])
        tokens = recipe.batch_size * recipe.model.block_size
        rows.append({
            "variant": label, "batch": recipe.batch_size, "ms/step": 1000 * seconds,
            "ms per 1k tokens": 1000 * seconds / tokens * 1000,
            "GFLOP/s": model.training_flops_per_token() * tokens / seconds / 1e9,
            "first steps (s)": first_steps,
        })  # fmt: skip
    return rows


def speed_variants(quick: bool) -> dict[str, object]:
    """nanoGPT's configuration, then one change at a time towards ``FAST``."""
    base = replace(NANOGPT_CPU, steps=10, warmup_steps=1)
    variants = {
        "nanoGPT's: fp32, fused attention, batch 12": base,
        "bf16 autocast": replace(base, amp=True),
        "bf16, attention written out": replace(base, amp=True, fused_attention=False),
        "+ fused AdamW": replace(base, amp=True, fused_attention=False, fused_optimizer=True),
        "+ batch 32 (FAST)": replace(
            base, amp=True, fused_attention=False, fused_optimizer=True, batch_size=32
        ),
        "fp32, fused attention, batch 32": replace(base, batch_size=32),
    }
    if not quick:
        variants["FAST + model.compile()"] = replace(variants["+ batch 32 (FAST)"], compile=True)
    return variants


def lstm_curve(cfg: RunConfig) -> tuple[list[tuple[float, float]], str] | None:
    """The sequences lesson's character LSTM, (seconds, val loss) points, from its run beside this
    one (``out/../NN_sequences/char-lstm``, as ``e2edl course`` and the notebooks lay runs out), and
    where they came from; None when that lesson has not run there."""
    for log in sorted(cfg.out.parent.glob("*_sequences/char-lstm/metrics.jsonl")):
        records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        points = [(r["elapsed"], r["val_loss"]) for r in records if "val_loss" in r]
        if points:
            return points, f"{log.parent.parent.name}, its windows of 256"
    return None


def curves_figure(histories: dict[str, list[dict]], lstm) -> plt.Figure:
    """Validation loss against training tokens (left) and against seconds (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, (records, tokens_per_step) in histories.items():
        points = [(r["step"] * tokens_per_step, r["elapsed"], r["val_loss"]) for r in records]
        axes[0].plot([p[0] / 1e6 for p in points], [p[2] for p in points], marker="o", ms=3, label=label)
        axes[1].plot([p[1] for p in points], [p[2] for p in points], marker="o", ms=3, label=label)
    if lstm is not None:
        points, source = lstm
        axes[1].plot(*zip(*points), marker="s", ms=3, color="black", label=f"LSTM ({source})")
    for ax in axes:
        ax.axhline(math.log(65), color="grey", ls=":", lw=1)
        ax.set_ylabel("validation loss (nats/char)")
        ax.legend(fontsize=7)
    axes[0].set(xlabel="training tokens (millions)", title="per token read")
    title = "per second of training" if lstm is not None else "per second (no LSTM run found)"
    axes[1].set(xlabel="seconds", title=title)
    fig.tight_layout()
    return fig


def value_at(points: list[tuple[float, float]], seconds: float) -> float | None:
    """The last value recorded at or before ``seconds`` (None if none was)."""
    before = [value for t, value in points if t <= seconds]
    return before[-1] if before else None


def samples(model: GPT, data: CharSplits, length: int, temperatures=(0.8, 1.0)) -> list[dict]:
    """``length`` characters after a newline, at each temperature, with a fixed seed."""
    prompt = data.vocabulary.encode(["\n"])[None]  # (1, 1)
    rows = []
    for temperature in temperatures:
        generator = torch.Generator().manual_seed(SAMPLE_SEED)
        ids = generate(
            model.cpu(), prompt, length, temperature=temperature, use_cache=False, generator=generator
        )
        rows.append({"temperature": temperature, "text": "".join(data.vocabulary.decode(ids[0, 1:]))})
    return rows


# ------------------------------------------------------------------------------------ KV cache


def kv_cache_check(model: GPT, data: CharSplits) -> bool:
    """Greedy decoding from the trained model fills its context with and without the cache."""
    prompt = data.vocabulary.encode(list("ROMEO:\n"))[None]  # (1, 7)
    n_new = model.cfg.block_size - prompt.size(1)
    model = model.cpu().eval()
    return torch.equal(
        generate(model, prompt, n_new, temperature=0, use_cache=True),
        generate(model, prompt, n_new, temperature=0, use_cache=False),
    )


# ------------------------------------------------------------------------------------------- BPE


def bpe_part(text: str, train_text: str, val_text: str, vocab_size: int) -> dict:
    """Our BPE trained on the training text; GPT-2's merges in ours vs tiktoken; a speed table."""
    started = time.perf_counter()
    ours = BPETokenizer.train(train_text, vocab_size)
    train_seconds = time.perf_counter() - started
    val_ids = ours.encode(val_text)
    merges = [ours.token(i).decode("utf-8", errors="replace") for i in range(256, 256 + 12)]

    gpt2, oracle = gpt2_tokenizer(), tiktoken_gpt2()
    mismatches = 0
    for sample in (text, UNICODE_TEXT):
        mine, theirs = gpt2.encode(sample), oracle.encode_ordinary(sample)
        mismatches += sum(a != b for a, b in zip(mine, theirs)) + abs(len(mine) - len(theirs))
        mismatches += gpt2.decode(mine) != sample  # and the round trip
    reference = oracle.encode_ordinary(text)
    hf = hf_gpt2_tokenizer()
    contenders = {
        "ours, cold cache (pure Python)": lambda: gpt2_tokenizer().encode(text),
        "ours, warm cache (pure Python)": lambda: gpt2.encode(text),
        "tiktoken (Rust)": lambda: oracle.encode_ordinary(text),
        "HF tokenizers (Rust)": lambda: hf.encode(text).ids,
    }
    speed = []
    for name, encode in contenders.items():
        times = []
        for _ in range(3):
            start = time.perf_counter()
            ids = encode()
            times.append(time.perf_counter() - start)
        speed.append(
            {"encoder": name, "tokens/s": len(ids) / statistics.median(times), "same ids": ids == reference}
        )
    return {
        "metrics": {
            "bpe_tiktoken_mismatches": mismatches,
            "bpe_chars_per_token": len(val_text) / len(val_ids),
            "bpe_round_trip": float(ours.decode(val_ids) == val_text),
            "bpe_train_seconds": train_seconds,
        },
        "merges": merges,
        "speed": speed,
        "gpt2_tokens": len(reference),
    }


# ------------------------------------------------------------------------------------- SmolLM2


def smollm2_part(question: str = "What is the capital of France?", n_new: int = 24) -> dict:
    """SmolLM2-135M-Instruct's (4-bit, de-quantised) weights in our Llama against transformers'."""
    from e2edl.nn.smollm2 import chat, chat_ids, llama_from_hf, load_smollm2_reference

    started = time.perf_counter()
    hf, tokenizer = load_smollm2_reference()
    ours = llama_from_hf(hf)
    load_seconds = time.perf_counter() - started
    prompt = chat_ids(tokenizer, question)
    with torch.no_grad():
        difference = (ours(prompt) - hf(prompt).logits).abs().max().item()
    theirs = hf.generate(
        prompt, max_new_tokens=n_new, do_sample=False, attention_mask=torch.ones_like(prompt)
    )
    n = theirs.size(1) - prompt.size(1)
    speeds, same = {}, True
    for use_cache in (False, True):
        start = time.perf_counter()
        mine = generate(ours, prompt, n, temperature=0, use_cache=use_cache)
        speeds[use_cache] = n / (time.perf_counter() - start)
        same &= torch.equal(mine, theirs)
    answer = chat(ours, tokenizer, question)
    return {
        "metrics": {"smollm2_logit_difference": difference, "smollm2_same_tokens": float(same),
                    "smollm2_answer_has_paris": float("Paris" in answer)},
        "row": {"question": question, "our answer": answer, "max |logit difference|": difference,
                f"{n} greedy tokens as transformers'": same, "tokens/s without cache": speeds[False],
                "tokens/s with cache": speeds[True], "load seconds": load_seconds},
    }  # fmt: skip


# ------------------------------------------------------------------------------------- scaling


def scaling(data: CharSplits, cfg: RunConfig, widths=(64, 128, 192, 256), steps: int = 500) -> list[dict]:
    """``FAST``'s recipe at four widths (4 layers, context 64), each for the same ``steps`` ×
    32 × 64 tokens: the validation loss against the parameters."""
    rows = []
    for width in widths:
        recipe = replace(FAST, model=replace(FAST.model, n_embd=width), steps=steps, warmup_steps=50,
                         eval_every=steps)  # fmt: skip
        model, history = train_gpt(data, recipe, **cfg.fit_options(f"scaling-{width}") | {"progress": False})
        rows.append({"width": width, "parameters": model.num_params(), "tokens": recipe.tokens,
                     "val_loss": history.last["val_loss"], "seconds": history.last["elapsed"]})  # fmt: skip
    return rows


def scaling_figure(rows: list[dict]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.loglog([r["parameters"] for r in rows], [r["val_loss"] for r in rows], marker="o")
    for r in rows:
        ax.annotate(f"width {r['width']}", (r["parameters"], r["val_loss"]), fontsize=7)
    ax.set(xlabel="parameters (non-embedding)", ylabel="validation loss (nats/char)",
           title=f"Same {rows[0]['tokens'] / 1e6:.1f} M training tokens, 4 widths")  # fmt: skip
    return fig


# ------------------------------------------------------------------------------------------- run


def run(cfg: RunConfig) -> dict:
    text = load_tinyshakespeare()
    data = CharSplits.of(text)
    quick = cfg.quick
    metrics, tables, figures, details = {}, {}, {}, {}

    # Training: nanoGPT's configuration and ours (the notebook trained both already, same folders).
    nano_recipe, fast_recipe = (NANOGPT_CPU_QUICK, FAST_QUICK) if quick else (NANOGPT_CPU, FAST)
    nano_model, nano = train_gpt(data, nano_recipe, **cfg.fit_options("nanogpt-cpu"))
    fast_model, fast = train_gpt(data, fast_recipe, **cfg.fit_options("fast"))
    runs = {
        "nanoGPT's configuration": (nano_recipe, nano_model, nano),
        "FAST": (fast_recipe, fast_model, fast),
    }
    if not quick:
        long_model, long = train_gpt(data, LONG, **cfg.fit_options("long"))
        runs["LONG"] = (LONG, long_model, long)
    best_label = "FAST" if quick else "LONG"
    best = runs[best_label][1]

    rows = []
    for label, (recipe, model, history) in runs.items():
        rows.append({"run": label, "steps": recipe.steps, "batch": recipe.batch_size, "tokens": recipe.tokens,
                     "parameters": model.num_params(), "val_loss": final_val_loss(model, data),
                     "seconds": history.last["elapsed"]})  # fmt: skip
    tables["runs"] = Table(rows, title="Character-level GPTs on Tiny Shakespeare: the whole validation text, "
                           "float32, nats per character", formats={"val_loss": ".4f", "seconds": ".0f",
                                                                   "tokens": ",", "parameters": ","})  # fmt: skip
    metrics["nanogpt_cpu_val_loss"] = rows[0]["val_loss"]
    metrics["fast_val_loss"] = rows[1]["val_loss"]
    metrics["fast_minus_nanogpt_val_loss"] = rows[1]["val_loss"] - rows[0]["val_loss"]
    metrics["fast_time_ratio"] = rows[1]["seconds"] / rows[0]["seconds"]
    if not quick:
        metrics["long_val_loss"] = rows[2]["val_loss"]
        metrics["long_seconds"] = rows[2]["seconds"]

    lstm = lstm_curve(cfg)
    histories = {label: (h.records, r.batch_size * r.model.block_size) for label, (r, _, h) in runs.items()}
    figures["curves"] = curves_figure(histories, lstm)
    if lstm is not None:
        points, source = lstm
        lstm_seconds = points[-1][0]
        gpt_points = [(r["elapsed"], r["val_loss"]) for r in runs[best_label][2].records]
        tables["gpt_vs_lstm"] = Table([
            {"model": "character LSTM (the sequences lesson)", "source": source, "seconds": lstm_seconds,
             "val_loss": points[-1][1]},
            {"model": f"GPT ({best_label})", "source": "this run", "seconds": lstm_seconds,
             "val_loss": value_at(gpt_points, lstm_seconds)},
        ], title="At the LSTM's training time", formats={"seconds": ".0f", "val_loss": ".4f"})  # fmt: skip

    tables["step_times"] = Table(
        step_times(data, speed_variants(quick), steps=5 if quick else 20, warmup=2 if quick else 5),
        title="One training step of the nanoGPT-shaped model, one change at a time (this machine)",
        formats={"ms/step": ".1f", "ms per 1k tokens": ".1f", "GFLOP/s": ".0f", "first steps (s)": ".1f"},
    )

    # Samples and the KV cache.
    details["samples"] = {
        "model": best_label,
        "seed": SAMPLE_SEED,
        "rows": samples(best, data, 300 if quick else 600),
    }
    oracle = hf_oracle(best, data.vocabulary.encode(list("ROMEO:"))[None])
    metrics["hf_logit_difference"] = oracle["hf_logit_difference"]
    metrics["hf_logit_difference_float32"] = oracle["hf_logit_difference_float32"]
    metrics["hf_greedy_same"] = oracle["hf_greedy_same"]
    tables["oracle"] = Table(oracle["rows"], title="Our GPT and Hugging Face's GPT2LMHeadModel, same weights",
                             formats={"max |logit difference|, float64": ".1e", "float32": ".1e"})  # fmt: skip
    same = kv_cache_check(best, data)
    seed_everything(0)
    speed_cfg = GPTConfig(vocab_size=65, block_size=256, n_layer=4, n_head=4, n_embd=128) if quick else \
        GPTConfig(vocab_size=65, block_size=512, n_layer=6, n_head=6, n_embd=384)  # fmt: skip
    lengths = ((16, 128), (32, 96)) if quick else ((16, 256), (64, 256))
    speed_rows = generation_speed(GPT(speed_cfg).eval(), *lengths)
    metrics["kv_cache_same_tokens"] = float(same and all(row["same tokens"] for row in speed_rows))
    tables["kv_cache"] = Table(
        speed_rows,
        title=f"Greedy decoding, batch 1, a GPT of {speed_cfg.n_layer} layers, width {speed_cfg.n_embd} "
        "(random weights)",
        formats={"tokens/s without cache": ".0f", "tokens/s with cache": ".0f", "speed-up": ".1f"},
    )

    # Tokenizers.
    train_text, val_text = text[: len(data.train_ids)], text[len(data.train_ids) :]
    bpe = bpe_part(text, train_text, val_text, vocab_size=512)
    metrics.update(bpe["metrics"])
    details["bpe_first_merges"] = bpe["merges"]
    tables["tokenizer_speed"] = Table(
        bpe["speed"],
        title=f"GPT-2's BPE on all of Tiny Shakespeare ({bpe['gpt2_tokens']:,} tokens), one process",
        formats={"tokens/s": ",.0f"},
    )

    if not quick:
        smol = smollm2_part()
        metrics.update(smol["metrics"])
        tables["smollm2"] = Table([smol["row"]], title="SmolLM2-135M-Instruct (Q4_1 weights, de-quantised)",
                                  formats={"max |logit difference|": ".1e", "tokens/s without cache": ".1f",
                                           "tokens/s with cache": ".1f", "load seconds": ".0f"})  # fmt: skip
        scaling_rows = scaling(data, cfg)
        tables["scaling"] = Table(scaling_rows, title="Scaling: one token budget, four widths",
                                  formats={"val_loss": ".4f", "seconds": ".0f", "parameters": ","})  # fmt: skip
        figures["scaling"] = scaling_figure(scaling_rows)
    return {"metrics": metrics, "figures": figures, "tables": tables, **details}


LESSON = Lesson(
    name="gpt",
    title="GPT from scratch: attention, training faster than nanoGPT, tokenizers, KV cache, SmolLM2",
    datasets=("tinyshakespeare",),
    claims=(
        Claim("hf_logit_difference", "<=", 1e-5, 1e-5, "our GPT and HF's GPT2LMHeadModel: same logits, both ways (float64)"),
        Claim("hf_greedy_same", "==", 1, 1, "20 greedy tokens identical to GPT2LMHeadModel's"),
        Claim("kv_cache_same_tokens", "==", 1, 1, "greedy decoding with the KV cache equals decoding without"),
        Claim("bpe_tiktoken_mismatches", "==", 0, 0,
              "our BPE with GPT-2's merges: tiktoken's ids on all of Tiny Shakespeare and a Unicode text"),
        Claim("nanogpt_cpu_val_loss", "<=", 2.55, 1.92,
              "nanoGPT's CPU configuration: validation loss (the whole validation text)"),
        Claim("fast_val_loss", "<=", 2.40, 1.89, "our recipe, same model shape: validation loss"),
        Claim("fast_minus_nanogpt_val_loss", "<=", -0.10, 0.0,
              "our recipe ends at least as low as nanoGPT's configuration"),
        Claim("fast_time_ratio", "<=", None, 0.5, "our recipe's seconds / nanoGPT's configuration's", kind="timing"),
        Claim("long_val_loss", "<=", None, 1.75, "the best model of about 15 minutes: validation loss"),
        Claim("long_seconds", "<=", None, 960, "the best model's training: at most 16 minutes", kind="timing"),
        Claim("smollm2_logit_difference", "<=", None, 1e-4, "SmolLM2 in our Llama: transformers' logits"),
        Claim("smollm2_same_tokens", "==", None, 1, "SmolLM2: transformers' greedy tokens, with and without cache"),
    ),
    run=run,
)  # fmt: skip
