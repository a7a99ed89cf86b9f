"""Text generation from a causal language model: sampling rules and the decoding loop.

A language model gives, at each step, logits over the next token. Generation turns them into a
token and feeds it back in:

- **greedy** (``temperature=0``): always the most likely token — deterministic, often repetitive;
- **temperature** T: sample from softmax(logits / T). T < 1 sharpens the distribution (safer),
  T > 1 flattens it (more surprising);
- **top-k**: sample only among the k most likely tokens;
- **top-p** ("nucleus", Holtzman et al. 2019): sample among the fewest most-likely tokens whose
  probabilities add up to at least p — a k that adapts to how sure the model is.

``generate`` works with any model that maps (B, T) ids to (B, T, vocab) logits and has
``context_length``; with ``use_cache=True`` it also needs ``model.new_cache(batch, max_len)`` and
``model(idx, cache=..., last_only=True)`` (``e2edl.nn.gpt.GPT`` and ``e2edl.nn.llama.Llama``).
"""

from __future__ import annotations

import time

import torch
from torch import nn


def sample_next_token(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Logits (B, vocab) → the next token of each sequence (B, 1). ``temperature=0`` is greedy."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)  # (B, 1)
    logits = logits / temperature  # (B, V)
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        kth_best = logits.topk(min(top_k, logits.size(-1)), dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth_best, float("-inf"))
    if top_p is not None:
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V)
        probs = sorted_logits.softmax(dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above each one
        drop_sorted = mass_before >= top_p  # already enough mass without it (the best one always stays)
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    probs = logits.softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)


@torch.no_grad()
def generate(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    use_cache: bool = True,
    stop_token: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Continue the prompts ``idx`` (B, T) by up to ``max_new_tokens``: returns (B, T + new).

    Without a cache, every step runs the model on the whole sequence so far (its last
    ``context_length`` tokens: a sliding window). With a cache, the prompt runs once and then each
    step runs on the one new token; prompt + new tokens must then fit in the context.
    ``stop_token``: stop once every sequence has produced it. The model is put in eval mode (and
    back in training mode afterwards if it was).
    """
    was_training = model.training
    model.eval()
    B, T = idx.shape
    sample = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "generator": generator}
    finished = torch.zeros(B, dtype=torch.bool, device=idx.device)
    if use_cache:
        if T + max_new_tokens > model.context_length:
            raise ValueError(
                f"prompt ({T}) + new tokens ({max_new_tokens}) exceed the context of {model.context_length}: "
                "generate fewer tokens, or use_cache=False to slide a window"
            )
        cache = model.new_cache(B, T + max_new_tokens)
        logits = model(idx, cache=cache, last_only=True)[:, -1]  # (B, V): the prompt, once
    for step in range(max_new_tokens):
        if not use_cache:
            logits = model(idx[:, -model.context_length :], last_only=True)[:, -1]  # (B, V)
        next_token = sample_next_token(logits, **sample)  # (B, 1)
        idx = torch.cat([idx, next_token], dim=1)  # (B, T + step + 1)
        if stop_token is not None:
            finished |= next_token[:, 0] == stop_token
            if finished.all():
                break
        if use_cache and step < max_new_tokens - 1:
            logits = model(next_token, cache=cache, last_only=True)[:, -1]  # (B, V): one new position
    model.train(was_training)
    return idx


def generation_speed(
    model: nn.Module,
    prompt_lengths: tuple[int, ...] = (16, 128),
    new_tokens: tuple[int, ...] = (32, 128),
    *,
    batch_size: int = 1,
    seed: int = 0,
) -> list[dict]:
    """Greedy decoding of random prompts, timed without and with the KV cache: one row per
    (prompt length, new tokens) with tokens/s (new tokens per second of the whole call, the
    prompt's forward pass included), the speed-up, and whether both produced the same tokens."""
    vocab_size = model.lm_head.weight.size(0)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for prompt_length in prompt_lengths:
        for n_new in new_tokens:
            if prompt_length + n_new > model.context_length:
                continue
            prompt = torch.randint(vocab_size, (batch_size, prompt_length), generator=generator).to(device)
            speeds, outputs = {}, {}
            for use_cache in (False, True):
                generate(model, prompt, 2, temperature=0, use_cache=use_cache)  # warm-up
                start = time.perf_counter()
                outputs[use_cache] = generate(model, prompt, n_new, temperature=0, use_cache=use_cache)
                speeds[use_cache] = batch_size * n_new / (time.perf_counter() - start)
            rows.append(
                {
                    "prompt tokens": prompt_length,
                    "new tokens": n_new,
                    "tokens/s without cache": speeds[False],
                    "tokens/s with cache": speeds[True],
                    "speed-up": speeds[True] / speeds[False],
                    "same tokens": bool(torch.equal(outputs[False], outputs[True])),
                }
            )
    return rows
