"""GPT against its oracle, Hugging Face's GPT2LMHeadModel (built offline from a GPT2Config), and
the KV cache against generation without it."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from e2edl.nn.generate import generate
from e2edl.nn.gpt import GPT, ConfigMismatch, GPTConfig, NextTokenLoss, from_hf_gpt2, to_hf_gpt2

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = GPTConfig(vocab_size=97, block_size=48, n_layer=3, n_head=4, n_embd=32)
NANOGPT_CPU = dataclasses.replace(SMALL, bias=False, activation="gelu")  # nanoGPT's CPU choices


def small_gpt(cfg: GPTConfig = SMALL, seed: int = 0, **kwargs) -> GPT:
    torch.manual_seed(seed)
    return GPT(cfg, **kwargs).eval()


def hf_gpt2(cfg: GPTConfig):
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(**cfg.hf_kwargs(), attn_implementation="eager")
    return transformers.GPT2LMHeadModel(config).eval()


def tokens(cfg: GPTConfig, shape: tuple[int, int], seed: int = 1) -> torch.Tensor:
    return torch.randint(cfg.vocab_size, shape, generator=torch.Generator().manual_seed(seed))


def test_shapes_and_causality() -> None:
    model = small_gpt()
    idx = tokens(SMALL, (2, 10))
    logits = model(idx)
    assert logits.shape == (2, 10, SMALL.vocab_size)
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % SMALL.vocab_size  # a different future
    torch.testing.assert_close(model(changed)[:, :6], logits[:, :6])  # the past cannot see it
    assert not torch.allclose(model(changed)[:, 6:], logits[:, 6:])
    torch.testing.assert_close(model(idx, last_only=True), logits[:, -1:])


def test_fused_kernel_and_written_out_attention_agree() -> None:
    fused, explicit = small_gpt(), small_gpt(use_sdpa=False)
    idx = tokens(SMALL, (3, SMALL.block_size))
    torch.testing.assert_close(explicit(idx), fused(idx), atol=1e-5, rtol=1e-5)


def test_too_long_an_input_is_a_one_line_error() -> None:
    with pytest.raises(ValueError, match="crop the input"):
        small_gpt()(tokens(SMALL, (1, SMALL.block_size + 1)))


def test_gpt2_initialisation_and_weight_tying() -> None:
    cfg = GPTConfig(vocab_size=500, block_size=64, n_layer=6, n_head=4, n_embd=128)
    model = small_gpt(cfg)
    assert model.lm_head.weight is model.transformer.wte.weight
    block = model.transformer.h[0]
    assert block.attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.05)
    for projection in (block.attn.c_proj.weight, block.mlp.c_proj.weight):
        assert projection.std().item() == pytest.approx(0.02 / math.sqrt(2 * 6), rel=0.1)
    assert all((p == 0).all() for n, p in model.named_parameters() if n.endswith(".bias"))
    # At init every token is about equally likely: the loss is close to ln(vocab).
    idx = tokens(cfg, (4, 64))
    loss = NextTokenLoss()(model(idx)[:, :-1], idx[:, 1:])
    assert loss.item() == pytest.approx(math.log(cfg.vocab_size), abs=0.1)


def test_next_token_loss_is_mean_cross_entropy_over_all_positions() -> None:
    logits, targets = torch.randn(2, 5, 7), torch.randint(7, (2, 5))
    expected = F.cross_entropy(logits.transpose(1, 2), targets)  # (B, V, T) layout
    torch.testing.assert_close(NextTokenLoss()(logits, targets), expected)


def test_parameter_groups_decay_only_matrices() -> None:
    model = small_gpt()
    decay, keep = model.param_groups(0.1)
    assert decay["weight_decay"] == 0.1 and keep["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"]) and all(p.ndim == 1 for p in keep["params"])
    n_grouped = sum(p.numel() for g in (decay, keep) for p in g["params"])
    assert n_grouped == model.num_params(non_embedding=False)  # the tied matrix counted once
    assert sum(1 for p in decay["params"] if p is model.lm_head.weight) == 1
    # per block: c_attn, attn.c_proj, c_fc, mlp.c_proj; plus wte (= lm_head) and wpe
    assert len(decay["params"]) == 4 * SMALL.n_layer + 2
    assert model.num_params() == model.num_params(non_embedding=False) - SMALL.block_size * SMALL.n_embd


@pytest.mark.parametrize("cfg", [SMALL, NANOGPT_CPU], ids=["gpt2", "no-bias-exact-gelu"])
def test_our_weights_in_hugging_face_gpt2_give_the_same_logits(cfg: GPTConfig) -> None:
    ours, hf = small_gpt(cfg), hf_gpt2(cfg)
    hf.load_state_dict(to_hf_gpt2(ours.state_dict()))
    idx = tokens(cfg, (3, cfg.block_size))
    with torch.no_grad():
        difference = (ours(idx) - hf(idx).logits).abs().max().item()
    assert difference <= 1e-5


def test_hugging_face_weights_in_ours_give_the_same_logits() -> None:
    torch.manual_seed(3)
    hf = hf_gpt2(SMALL)
    with torch.no_grad():  # HF initialises biases and LayerNorms trivially: make them random
        for name, p in hf.named_parameters():
            if p.ndim == 1:
                p.normal_(1.0 if "ln_" in name and name.endswith(".weight") else 0.0, 0.1)
    ours = GPT(SMALL).eval()
    ours.load_state_dict(from_hf_gpt2(hf.state_dict()))
    idx = tokens(SMALL, (3, SMALL.block_size))
    with torch.no_grad():
        difference = (ours(idx) - hf(idx).logits).abs().max().item()
    assert difference <= 1e-5
    # and back: our state dict, converted, is exactly theirs
    back = to_hf_gpt2(ours.state_dict())
    assert all(torch.equal(back[name], t) for name, t in hf.state_dict().items())


def test_twenty_greedy_tokens_are_the_same_as_hugging_face_generate() -> None:
    ours, hf = small_gpt(SMALL, seed=5), hf_gpt2(SMALL)
    hf.load_state_dict(to_hf_gpt2(ours.state_dict()))
    prompt = tokens(SMALL, (2, 8))
    theirs = hf.generate(prompt, max_new_tokens=20, do_sample=False, attention_mask=torch.ones_like(prompt))
    for use_cache in (False, True):
        mine = generate(ours, prompt, 20, temperature=0, use_cache=use_cache)
        assert torch.equal(mine, theirs)


@pytest.mark.parametrize("use_sdpa", [True, False], ids=["sdpa", "written-out"])
def test_kv_cache_gives_the_logits_of_the_full_forward_pass(use_sdpa: bool) -> None:
    model = small_gpt(use_sdpa=use_sdpa)
    idx = tokens(SMALL, (2, 30))
    full = model(idx)
    cache = model.new_cache(2)
    pieces = [model(idx[:, a:b], cache=cache) for a, b in ((0, 11), (11, 12), (12, 20), (20, 30))]
    assert cache.length == 30
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


def test_kv_cache_greedy_output_equals_generation_without_it() -> None:
    model = small_gpt(seed=7)
    prompt = tokens(SMALL, (3, 5))
    with_cache = generate(model, prompt, SMALL.block_size - 5, temperature=0, use_cache=True)
    without = generate(model, prompt, SMALL.block_size - 5, temperature=0, use_cache=False)
    assert with_cache.shape == (3, SMALL.block_size)
    assert torch.equal(with_cache, without)


def test_sampled_generation_is_the_same_with_and_without_cache_at_a_fixed_seed() -> None:
    model = small_gpt(seed=7)
    prompt = tokens(SMALL, (2, 4))
    runs = [
        generate(model, prompt, 30, temperature=0.9, top_k=20, top_p=0.9, use_cache=use_cache,
                 generator=torch.Generator().manual_seed(11))
        for use_cache in (True, False)
    ]  # fmt: skip
    assert torch.equal(*runs)


def test_without_cache_generation_slides_past_the_context_with_it_is_an_error() -> None:
    model = small_gpt()
    prompt = tokens(SMALL, (1, SMALL.block_size - 2))
    assert generate(model, prompt, 10, temperature=0, use_cache=False).shape == (1, SMALL.block_size + 8)
    with pytest.raises(ValueError, match="use_cache=False"):
        generate(model, prompt, 10, temperature=0, use_cache=True)


def test_a_state_dict_of_another_config_is_a_one_line_error_naming_both() -> None:
    other = dataclasses.replace(SMALL, n_layer=2, n_embd=48)
    with pytest.raises(ConfigMismatch) as error:
        small_gpt(SMALL).load_state_dict(small_gpt(other).state_dict())
    message = str(error.value)
    assert "\n" not in message
    assert "n_layer=2" in message and "n_embd=48" in message  # the weights' config
    assert "n_layer=3" in message and "n_embd=32" in message  # the model's config
    with pytest.raises(ConfigMismatch, match="bias=False"):
        small_gpt(SMALL).load_state_dict(small_gpt(NANOGPT_CPU).state_dict())


def test_checkpoint_round_trip_and_mismatch() -> None:
    model = small_gpt()
    restored = GPT.from_checkpoint(model.checkpoint(), expected=SMALL).eval()
    idx = tokens(SMALL, (1, 9))
    torch.testing.assert_close(restored(idx), model(idx))
    with pytest.raises(ConfigMismatch) as error:
        GPT.from_checkpoint(model.checkpoint(), expected=NANOGPT_CPU)
    assert (
        "\n" not in str(error.value) and "bias=True" in str(error.value) and "bias=False" in str(error.value)
    )


def test_hf_config_round_trip() -> None:
    transformers = pytest.importorskip("transformers")
    for cfg in (SMALL, NANOGPT_CPU):
        expected = dataclasses.replace(cfg, bias=True)  # GPT-2 always has biases
        assert GPTConfig.from_hf(transformers.GPT2Config(**cfg.hf_kwargs()).to_dict()) == expected


def test_training_flops_per_token_match_torchs_flop_counter() -> None:
    """6N + 12·L·C·T against PyTorch's count of every matmul in a forward + backward pass (the
    written-out attention, whose matmuls the counter sees one by one)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = GPT(NANOGPT_CPU, use_sdpa=False)
    idx = tokens(NANOGPT_CPU, (2, NANOGPT_CPU.block_size))
    with FlopCounterMode(display=False) as counter:
        NextTokenLoss()(model(idx), idx).backward()
    counted = counter.get_total_flops() / idx.numel()
    assert counted == pytest.approx(model.training_flops_per_token(), rel=0.01)  # LayerNorm gains: no matmul
