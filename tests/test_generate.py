"""Sampling rules checked on hand-made distributions, and the speed table's bookkeeping."""

from __future__ import annotations

import math

import pytest
import torch

from e2edl.nn.generate import generate, generation_speed, sample_next_token
from e2edl.nn.gpt import GPT, GPTConfig

pytestmark = pytest.mark.usefixtures("one_thread")

PROBS = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
LOGITS = PROBS.log()


def sampled_support(n: int = 2000, **options) -> set[int]:
    g = torch.Generator().manual_seed(0)
    logits = LOGITS.expand(n, -1)
    return set(sample_next_token(logits, generator=g, **options)[:, 0].tolist())


def test_temperature_zero_is_greedy_and_needs_no_generator() -> None:
    logits = torch.randn(5, 11)
    assert torch.equal(sample_next_token(logits, temperature=0), logits.argmax(-1, keepdim=True))


def test_top_k_keeps_the_k_most_likely_tokens() -> None:
    assert sampled_support(top_k=1) == {0}
    assert sampled_support(top_k=2) == {0, 1}
    assert sampled_support(top_k=100) == {0, 1, 2, 3}  # k larger than the vocabulary: no cut


@pytest.mark.parametrize(
    ("top_p", "support"),
    [(0.3, {0}), (0.5, {0}), (0.51, {0, 1}), (0.8, {0, 1}), (0.81, {0, 1, 2}), (1.0, {0, 1, 2, 3})],
)
def test_top_p_keeps_the_fewest_tokens_reaching_mass_p(top_p: float, support: set[int]) -> None:
    assert sampled_support(top_p=top_p) == support


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sampling_follows_the_tempered_distribution(temperature: float) -> None:
    n, g = 40_000, torch.Generator().manual_seed(1)
    samples = sample_next_token(LOGITS.expand(n, -1), temperature=temperature, generator=g)[:, 0]
    expected = (LOGITS / temperature).softmax(-1)[0]  # T = 2 flattens, T = 0.5 sharpens
    torch.testing.assert_close(torch.bincount(samples, minlength=4) / n, expected, atol=0.01, rtol=0)


def test_bad_sampling_options_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="temperature"):
        sample_next_token(LOGITS, temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        sample_next_token(LOGITS, top_k=0)
    with pytest.raises(ValueError, match="top_p"):
        sample_next_token(LOGITS, top_p=0)


def tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=13, block_size=24, n_layer=2, n_head=2, n_embd=16)).eval()


def test_generation_stops_when_every_sequence_has_produced_the_stop_token() -> None:
    model = tiny_gpt()
    prompt = torch.tensor([[1, 2, 3]])
    full = generate(model, prompt, 15, temperature=0)
    stop = full[0, 5].item()  # the third generated token
    first = (full[0, 3:] == stop).nonzero()[0].item()
    stopped = generate(model, prompt, 15, temperature=0, stop_token=stop)
    assert torch.equal(stopped, full[:, : 3 + first + 1])


def test_generate_restores_training_mode() -> None:
    model = tiny_gpt().train()
    generate(model, torch.tensor([[1]]), 3, temperature=0)
    assert model.training


def test_speed_table_rows() -> None:
    rows = generation_speed(tiny_gpt(), prompt_lengths=(4, 20), new_tokens=(3, 8))
    assert [(r["prompt tokens"], r["new tokens"]) for r in rows] == [(4, 3), (4, 8), (20, 3)]  # 20 + 8 > 24
    for row in rows:
        assert row["same tokens"]
        assert math.isclose(row["speed-up"], row["tokens/s with cache"] / row["tokens/s without cache"])
