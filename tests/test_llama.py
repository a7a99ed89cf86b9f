"""The modern-LLM pieces, each against a reference, and a small random Llama against Hugging Face's
``LlamaForCausalLM`` built offline from a config (the real SmolLM2 weights: test_smollm2.py)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from e2edl.nn.causal_attention import causal_attention, causal_mask
from e2edl.nn.generate import generate
from e2edl.nn.llama import Llama, LlamaConfig
from e2edl.nn.rmsnorm import RMSNorm
from e2edl.nn.rope import apply_rope, interleaved_to_half_split, rope_angles, rope_complex
from e2edl.nn.swiglu import SwiGLU

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = LlamaConfig(vocab_size=89, dim=48, hidden_dim=128, n_layers=3, n_heads=6, n_kv_heads=2, max_len=64)


def hf_llama_config(cfg: LlamaConfig):
    transformers = pytest.importorskip("transformers")
    return transformers.LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.dim, intermediate_size=cfg.hidden_dim,
        num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads, num_key_value_heads=cfg.n_kv_heads,
        rms_norm_eps=cfg.norm_eps, max_position_embeddings=cfg.max_len, tie_word_embeddings=cfg.tie_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_base}, bos_token_id=None,
        eos_token_id=None, pad_token_id=None,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ RMSNorm


def test_rmsnorm_equals_torchs() -> None:
    torch.manual_seed(0)
    ours, reference = RMSNorm(16, eps=1e-5), torch.nn.RMSNorm(16, eps=1e-5)
    with torch.no_grad():
        ours.weight.normal_()
        reference.weight.copy_(ours.weight)
    x = torch.randn(3, 5, 16) * 7
    torch.testing.assert_close(ours(x), reference(x))
    unit = RMSNorm(16)(x)
    torch.testing.assert_close(unit.pow(2).mean(-1), torch.ones(3, 5), atol=1e-4, rtol=0)  # unit RMS


# ------------------------------------------------------------------------------------------ RoPE


def test_rope_equals_transformers_rotary_function() -> None:
    llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    hs, T = 16, 11
    cos, sin = rope_angles(hs, T, base=500.0)  # (T, hs/2)
    q, k = torch.randn(2, 3, T, hs), torch.randn(2, 1, T, hs)
    full_cos, full_sin = torch.cat([cos, cos], -1)[None], torch.cat([sin, sin], -1)[None]  # HF: (1, T, hs)
    q_hf, k_hf = llama.apply_rotary_pos_emb(q, k, full_cos, full_sin)
    torch.testing.assert_close(apply_rope(q, cos, sin), q_hf)
    torch.testing.assert_close(apply_rope(k, cos, sin), k_hf)


def test_rope_is_the_complex_rotation_in_the_other_layout() -> None:
    """Meta's complex-number RoPE on the interleaved layout = ours on the half-split one."""
    hs, T = 8, 7
    x = torch.randn(3, T, hs, dtype=torch.float64)
    order = interleaved_to_half_split(torch.arange(hs)[:, None], n_heads=1)[:, 0]  # [0, 2, 4, 6, 1, 3, 5, 7]
    assert order.tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    cos, sin = rope_angles(hs, T)
    expected = rope_complex(x, torch.arange(T, dtype=torch.float64))[..., order]
    torch.testing.assert_close(
        apply_rope(x[..., order].float(), cos, sin), expected.float(), atol=1e-5, rtol=1e-5
    )


def test_interleaved_and_half_split_projections_give_the_same_attention_scores() -> None:
    """Why transformers permutes GGUF's q/k rows: with the matching RoPE, the scores agree."""
    torch.manual_seed(0)
    heads, hs, dim, T = 2, 8, 12, 6
    w_q, w_k = (
        torch.randn(heads * hs, dim, dtype=torch.float64),
        torch.randn(heads * hs, dim, dtype=torch.float64),
    )
    x = torch.randn(T, dim, dtype=torch.float64)

    def per_head(y: torch.Tensor) -> torch.Tensor:
        return y.view(T, heads, hs).transpose(0, 1)  # (heads, T, hs)

    positions = torch.arange(T, dtype=torch.float64)
    q, k = rope_complex(per_head(x @ w_q.T), positions), rope_complex(per_head(x @ w_k.T), positions)
    cos, sin = (c.double() for c in rope_angles(hs, T))
    q2 = apply_rope(per_head(x @ interleaved_to_half_split(w_q, heads).T), cos, sin)
    k2 = apply_rope(per_head(x @ interleaved_to_half_split(w_k, heads).T), cos, sin)
    torch.testing.assert_close(
        q2 @ k2.transpose(1, 2), q @ k.transpose(1, 2), atol=1e-4, rtol=1e-5
    )  # float32 angles


def test_rope_scores_depend_only_on_the_distance() -> None:
    hs = 32
    cos, sin = rope_angles(hs, 64)
    q, k = torch.randn(hs), torch.randn(hs)

    def score(m: int, n: int) -> float:
        return (apply_rope(q, cos[m], sin[m]) @ apply_rope(k, cos[n], sin[n])).item()

    assert score(5, 2) == pytest.approx(score(40, 37), abs=1e-4)
    assert score(0, 0) == pytest.approx((q @ k).item(), abs=1e-5)  # position 0: no rotation
    assert score(5, 2) != pytest.approx(score(5, 4), abs=1e-3)


# ------------------------------------------------------------------------------------------ SwiGLU


def test_swiglu_equals_transformers_llama_mlp() -> None:
    llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    torch.manual_seed(0)
    ours = SwiGLU(24, 40)
    reference = llama.LlamaMLP(hf_llama_config(dataclasses.replace(TINY, dim=24, hidden_dim=40)))
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(2, 5, 24)
    torch.testing.assert_close(ours(x), reference(x))


# ------------------------------------------------------------------------------------------ GQA


def repeated_kv_reference(q, k, v):
    """Each kv head copied to its group of query heads, then PyTorch's causal attention."""
    groups = q.size(1) // k.size(1)
    k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    Tq, Tk = q.size(2), k.size(2)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(Tq, Tk))


@pytest.mark.parametrize(("n_heads", "n_kv"), [(4, 4), (6, 2), (8, 1)])
@pytest.mark.parametrize(("Tq", "Tk"), [(9, 9), (1, 9), (4, 9)])  # training, one cached step, a chunk
@pytest.mark.parametrize("use_sdpa", [True, False], ids=["sdpa", "written-out"])
def test_grouped_query_attention_equals_repeated_kv_heads(n_heads, n_kv, Tq, Tk, use_sdpa) -> None:
    g = torch.Generator().manual_seed(n_heads + Tq)
    q = torch.randn(2, n_heads, Tq, 8, generator=g)
    k, v = torch.randn(2, n_kv, Tk, 8, generator=g), torch.randn(2, n_kv, Tk, 8, generator=g)
    out = causal_attention(q, k, v, use_sdpa=use_sdpa)
    torch.testing.assert_close(out, repeated_kv_reference(q, k, v), atol=1e-5, rtol=1e-5)


def test_grouped_query_attention_refuses_uneven_groups() -> None:
    with pytest.raises(ValueError, match="evenly"):
        causal_attention(torch.randn(1, 5, 3, 4), torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4))


# ------------------------------------------------------------------------------------------ the model


@pytest.fixture(scope="module")
def tiny_pair():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    hf = transformers.LlamaForCausalLM(hf_llama_config(TINY)).eval()
    with torch.no_grad():  # random norm gains, so that a wrong norm could not hide
        for p in hf.parameters():
            if p.ndim == 1:
                p.normal_(1.0, 0.2)
    ours = Llama(TINY).eval()
    ours.load_state_dict(hf.state_dict())
    return ours, hf


def test_config_from_transformers() -> None:
    assert LlamaConfig.from_hf(hf_llama_config(TINY).to_dict()) == TINY


def test_tiny_llama_logits_equal_transformers(tiny_pair) -> None:
    ours, hf = tiny_pair
    idx = torch.randint(TINY.vocab_size, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(idx).logits
    assert (ours(idx) - expected).abs().max().item() <= 1e-5
    explicit = Llama(TINY, use_sdpa=False).eval()
    explicit.load_state_dict(ours.state_dict())
    assert (explicit(idx) - expected).abs().max().item() <= 1e-5


def test_tiny_llama_greedy_tokens_equal_transformers_generate(tiny_pair) -> None:
    ours, hf = tiny_pair
    prompt = torch.randint(TINY.vocab_size, (1, 6), generator=torch.Generator().manual_seed(2))
    theirs = hf.generate(prompt, max_new_tokens=20, do_sample=False, attention_mask=torch.ones_like(prompt))
    for use_cache in (True, False):
        assert torch.equal(generate(ours, prompt, 20, temperature=0, use_cache=use_cache), theirs)


def test_kv_cache_with_grouped_heads_gives_the_full_forward_logits(tiny_pair) -> None:
    ours, _ = tiny_pair
    idx = torch.randint(TINY.vocab_size, (2, 25), generator=torch.Generator().manual_seed(3))
    cache = ours.new_cache(2, 25)
    assert cache.keys.shape == (TINY.n_layers, 2, TINY.n_kv_heads, 25, TINY.head_dim)  # 3× smaller than nh
    pieces = [ours(idx[:, a:b], cache=cache) for a, b in ((0, 10), (10, 11), (11, 25))]
    torch.testing.assert_close(torch.cat(pieces, 1), ours(idx), atol=1e-5, rtol=1e-5)


def test_weights_of_another_config_are_a_one_line_error(tiny_pair) -> None:
    ours, _ = tiny_pair
    other = Llama(dataclasses.replace(TINY, n_layers=2))
    with pytest.raises(ValueError, match="n_layers': 2") as error:
        ours.load_state_dict(other.state_dict())
    assert "\n" not in str(error.value)


def test_parameter_groups_leave_the_norm_gains_alone() -> None:
    model = Llama(TINY)
    decay, keep = model.param_groups(0.1)
    assert all(p.ndim == 1 for p in keep["params"]) and len(keep["params"]) == 2 * TINY.n_layers + 1
    assert sum(p.numel() for g in (decay, keep) for p in g["params"]) == model.num_params()
