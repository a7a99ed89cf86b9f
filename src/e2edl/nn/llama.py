"""A Llama-architecture language model: GPT-2's skeleton with four modern parts.

Touvron et al. 2023 (*LLaMA*); SmolLM2 (Hugging Face, 2024) is a small model of this shape. Same
pre-norm decoder as ``e2edl.nn.gpt`` — embeddings, n blocks of attention + MLP on a residual
stream, a final norm, a tied output layer — with these differences:

==========================  =================================  =====================================
part                        GPT-2                              Llama
==========================  =================================  =====================================
positions                   learned vector added at the input  rotary embedding of q and k (``rope``)
normalisation               LayerNorm (centre, scale, bias)    RMSNorm (scale only, ``rmsnorm``)
MLP                         Linear → GELU → Linear             gated SwiGLU (``swiglu``)
attention                   one k, v head per query head       grouped-query: heads share k, v
biases                      everywhere                         none
==========================  =================================  =====================================

Parameter names are Hugging Face's ``LlamaForCausalLM`` names (``model.layers.0.self_attn.q_proj``,
...), so its state dict loads as it is; its q/k projections are in the half-split RoPE layout
(``e2edl.nn.rope``). This module imports torch only: ``e2edl.nn.smollm2`` gets real weights.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from e2edl.nn.causal_attention import causal_attention
from e2edl.nn.kv_cache import KVCache
from e2edl.nn.rmsnorm import RMSNorm
from e2edl.nn.rope import apply_rope, rope_angles
from e2edl.nn.swiglu import SwiGLU
from e2edl.train.param_groups import weight_decay_groups


@dataclass(frozen=True)
class LlamaConfig:
    """A Llama's shape; the defaults are SmolLM2-135M's."""

    vocab_size: int = 49152
    dim: int = 576  # the width of the residual stream
    hidden_dim: int = 1536  # SwiGLU's hidden width
    n_layers: int = 30
    n_heads: int = 9  # query heads; head width = dim // n_heads
    n_kv_heads: int = 3  # key/value heads, each shared by n_heads // n_kv_heads query heads
    rope_base: float = 100_000.0
    norm_eps: float = 1e-5
    max_len: int = 8192  # positions the rotary tables are precomputed for
    tie_embeddings: bool = True

    def __post_init__(self) -> None:
        if self.dim % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"need dim ({self.dim}) divisible by n_heads ({self.n_heads}) and n_heads by n_kv_heads ({self.n_kv_heads})"
            )

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @classmethod
    def from_hf(cls, hf_config: Mapping) -> LlamaConfig:
        """The config of a Hugging Face Llama (``LlamaConfig.to_dict()``)."""
        head_dim = hf_config.get("head_dim") or hf_config["hidden_size"] // hf_config["num_attention_heads"]
        if head_dim * hf_config["num_attention_heads"] != hf_config["hidden_size"]:
            raise ValueError("a head width other than hidden_size / num_attention_heads is not supported")
        if (
            hf_config.get("attention_bias")
            or hf_config.get("mlp_bias")
            or hf_config.get("hidden_act") != "silu"
        ):
            raise ValueError("only Llamas without biases and with SiLU gates are supported")
        rope = hf_config.get("rope_parameters") or {"rope_theta": hf_config.get("rope_theta", 10_000.0)}
        if rope.get("rope_type", "default") != "default":
            raise ValueError(f"RoPE scaling {rope['rope_type']!r} is not supported")
        return cls(
            vocab_size=hf_config["vocab_size"], dim=hf_config["hidden_size"],
            hidden_dim=hf_config["intermediate_size"], n_layers=hf_config["num_hidden_layers"],
            n_heads=hf_config["num_attention_heads"], n_kv_heads=hf_config["num_key_value_heads"],
            rope_base=rope["rope_theta"], norm_eps=hf_config["rms_norm_eps"],
            max_len=hf_config["max_position_embeddings"], tie_embeddings=hf_config.get("tie_word_embeddings", False),
        )  # fmt: skip


class LlamaAttention(nn.Module):
    """(B, T, dim) → (B, T, dim): grouped-query causal attention with rotary positions."""

    def __init__(self, cfg: LlamaConfig, layer: int = 0, use_sdpa: bool = True) -> None:
        super().__init__()
        hs = cfg.head_dim
        self.q_proj = nn.Linear(cfg.dim, cfg.n_heads * hs, bias=False)
        self.k_proj = nn.Linear(cfg.dim, cfg.n_kv_heads * hs, bias=False)
        self.v_proj = nn.Linear(cfg.dim, cfg.n_kv_heads * hs, bias=False)
        self.o_proj = nn.Linear(cfg.n_heads * hs, cfg.dim, bias=False)
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, hs
        self.layer, self.use_sdpa = layer, use_sdpa

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: KVCache | None = None
    ) -> torch.Tensor:
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, nh, T, hs)
        k = self.k_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, n_kv, T, hs)
        v = self.v_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, n_kv, T, hs)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)  # positions enter here, and only here
        if cache is not None:
            k, v = cache.update(self.layer, k, v)  # (B, n_kv, T_seen + T, hs)
        y = causal_attention(q, k, v, use_sdpa=self.use_sdpa)  # (B, nh, T, hs)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))  # (B, T, dim)


class LlamaBlock(nn.Module):
    """Pre-norm block: x + attention(norm(x)), then x + SwiGLU(norm(x))."""

    def __init__(self, cfg: LlamaConfig, layer: int = 0, use_sdpa: bool = True) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.self_attn = LlamaAttention(cfg, layer, use_sdpa)
        self.post_attention_layernorm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.mlp = SwiGLU(cfg.dim, cfg.hidden_dim)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: KVCache | None = None
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)  # (B, T, dim)
        return x + self.mlp(self.post_attention_layernorm(x))  # (B, T, dim)


class Llama(nn.Module):
    """Token ids (B, T) → next-token logits (B, T, vocab_size)."""

    def __init__(self, cfg: LlamaConfig, use_sdpa: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.model = nn.ModuleDict(
            {
                "embed_tokens": nn.Embedding(cfg.vocab_size, cfg.dim),
                "layers": nn.ModuleList(LlamaBlock(cfg, i, use_sdpa) for i in range(cfg.n_layers)),
                "norm": RMSNorm(cfg.dim, cfg.norm_eps),
            }
        )
        self.lm_head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        cos, sin = rope_angles(cfg.head_dim, cfg.max_len, cfg.rope_base)  # (max_len, hs/2) each
        self.register_buffer("rope_cos", cos, persistent=False)  # recomputed, never saved
        self.register_buffer("rope_sin", sin, persistent=False)
        for p in self.parameters():  # N(0, 0.02) matrices, unit norm gains
            nn.init.normal_(p, std=0.02) if p.ndim == 2 else nn.init.ones_(p)

    @property
    def context_length(self) -> int:
        return self.cfg.max_len

    def forward(
        self, idx: torch.Tensor, cache: KVCache | None = None, last_only: bool = False
    ) -> torch.Tensor:
        """idx (B, T) → logits (B, T, vocab), or (B, 1, vocab) for the last position only.
        With a ``cache``, ``idx`` holds the tokens that follow the ``cache.length`` already seen."""
        T = idx.size(1)
        start = cache.length if cache is not None else 0
        if start + T > self.cfg.max_len:
            raise ValueError(f"{start + T} positions but the rotary tables hold {self.cfg.max_len} (max_len)")
        cos, sin = self.rope_cos[start : start + T], self.rope_sin[start : start + T]  # (T, hs/2)
        x = self.model.embed_tokens(idx)  # (B, T, dim): no position vector is added
        for layer in self.model.layers:
            x = layer(x, cos, sin, cache)  # (B, T, dim)
        if cache is not None:
            cache.advance(T)
        x = self.model.norm(x[:, -1:] if last_only else x)  # (B, T or 1, dim)
        return self.lm_head(x)  # (B, T or 1, vocab)

    def new_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        """An empty KV cache: (n_layers, B, n_kv_heads, max_len, hs) — n_heads / n_kv_heads times
        smaller than a cache with one key/value head per query head."""
        cfg, weight = self.cfg, self.lm_head.weight
        return KVCache(
            cfg.n_layers, batch_size, cfg.n_kv_heads, cfg.head_dim, max_len or cfg.max_len,
            dtype=weight.dtype, device=weight.device,
        )  # fmt: skip

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Optimizer groups: matrices and embeddings decay, RMSNorm gains do not."""
        return weight_decay_groups(self, weight_decay)

    def load_state_dict(self, state_dict: Mapping, strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict`` after a shape check: weights of another config are one
        ``ValueError`` line naming what differs."""
        if "model.embed_tokens.weight" in state_dict:
            vocab_size, dim = state_dict["model.embed_tokens.weight"].shape
            layers = {int(m.group(1)) for k in state_dict if (m := re.match(r"model\.layers\.(\d+)\.", k))}
            kv_rows = state_dict["model.layers.0.self_attn.k_proj.weight"].shape[0] if layers else 0
            found = {"vocab_size": vocab_size, "dim": dim, "n_layers": len(layers)}
            expected = {k: getattr(self.cfg, k) for k in found}
            if found != expected or (layers and kv_rows != self.cfg.n_kv_heads * self.cfg.head_dim):
                raise ValueError(
                    f"these weights are for a Llama with {found} (k_proj rows {kv_rows}), "
                    f"but this model is {self.cfg}: build the model from the weights' config"
                )
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
