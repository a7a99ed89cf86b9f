"""GPT: a decoder-only Transformer language model, with GPT-2's shape and parameter names.

Radford et al., *Language Models are Unsupervised Multitask Learners* (GPT-2, 2019). Tokens in,
for every position a distribution over the next token out::

    idx (B, T) token ids
    wte + wpe       token embedding + learned position embedding                 (B, T, C)
    h               n_layer × Block: x + attn(ln_1(x)), then x + mlp(ln_2(x))   (B, T, C)
    ln_f → lm_head  final LayerNorm, then a Linear that shares its weight with wte (B, T, vocab)

The attention is *causal* (position t sees positions ≤ t), so one forward pass trains all T
next-token predictions of a sequence at once. ``lm_head`` reuses ``wte``'s matrix ("weight
tying"): reading a token and writing it use the same vectors, and the largest matrix of a small
model is stored once.

``GPT.state_dict()`` uses GPT-2's names (``transformer.h.0.attn.c_attn.weight``, ...), so
``to_hf_gpt2`` / ``from_hf_gpt2`` map it to and from Hugging Face's ``GPT2LMHeadModel``, whose
``Conv1D`` layers store the transposed matrix (in, out). ``GPTConfig.hf_kwargs()`` builds the
matching ``GPT2Config``. This module imports torch only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from e2edl.nn.causal_attention import causal_attention
from e2edl.nn.kv_cache import KVCache
from e2edl.train.param_groups import weight_decay_groups

ACTIVATIONS = {"gelu_tanh": "tanh", "gelu": "none"}  # ours → F.gelu's approximate=
HF_ACTIVATIONS = {"gelu_tanh": "gelu_new", "gelu": "gelu"}  # ours → GPT2Config.activation_function


class ConfigMismatch(ValueError):
    """Weights that belong to a model of another shape."""


@dataclass(frozen=True)
class GPTConfig:
    """A GPT's shape; the defaults are GPT-2 small (124M). Frozen: derive variants with
    ``dataclasses.replace(cfg, n_layer=4)``."""

    vocab_size: int = 50257
    block_size: int = 1024  # the context: the most positions the model has embeddings for
    n_layer: int = 12
    n_head: int = 12  # head width = n_embd // n_head
    n_embd: int = 768  # C: the width of every token vector
    dropout: float = 0.0
    bias: bool = True  # biases in the Linears and LayerNorms (GPT-2: yes)
    activation: str = "gelu_tanh"  # "gelu_tanh" (GPT-2's approximation) or "gelu" (exact)

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")

    def hf_kwargs(self) -> dict:
        """Keyword arguments for ``transformers.GPT2Config`` that build this network."""
        eos = 50256 if self.vocab_size > 50256 else None  # GPT-2's <|endoftext|>, if the vocabulary has it
        return {
            "vocab_size": self.vocab_size, "n_positions": self.block_size, "n_embd": self.n_embd,
            "n_layer": self.n_layer, "n_head": self.n_head, "activation_function": HF_ACTIVATIONS[self.activation],
            "resid_pdrop": self.dropout, "embd_pdrop": self.dropout, "attn_pdrop": self.dropout,
            "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True,
            "bos_token_id": eos, "eos_token_id": eos,
        }  # fmt: skip

    @classmethod
    def from_hf(cls, hf_config: Mapping) -> GPTConfig:
        """The config of a Hugging Face GPT-2 (``GPT2Config.to_dict()``)."""
        activation = {v: k for k, v in HF_ACTIVATIONS.items()}.get(hf_config["activation_function"])
        if activation is None:
            raise ValueError(f"no GPT activation for {hf_config['activation_function']!r}")
        return cls(
            vocab_size=hf_config["vocab_size"], block_size=hf_config["n_positions"],
            n_layer=hf_config["n_layer"], n_head=hf_config["n_head"], n_embd=hf_config["n_embd"],
            dropout=hf_config.get("resid_pdrop", 0.0), activation=activation,
        )  # fmt: skip


class CausalSelfAttention(nn.Module):
    """(B, T, C) → (B, T, C): multi-head attention where each position sees only the past.

    One ``c_attn`` Linear makes all heads' queries, keys and values at once (C → 3C); ``c_proj``
    mixes the heads' outputs. The attention itself is ``causal_attention`` — the fused kernel, or
    with ``use_sdpa=False`` the formula of ``e2edl.nn.attention.attention`` written out.
    """

    def __init__(self, cfg: GPTConfig, layer: int = 0, use_sdpa: bool = True) -> None:
        super().__init__()
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)
        self.n_head, self.dropout, self.layer, self.use_sdpa = cfg.n_head, cfg.dropout, layer, use_sdpa

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # (B, T, C) each
        hs = C // self.n_head
        q, k, v = (t.view(B, T, self.n_head, hs).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.update(self.layer, k, v)  # (B, nh, T_seen + T, hs)
        dropout = self.dropout if self.training else 0.0
        y = causal_attention(q, k, v, dropout_p=dropout, use_sdpa=self.use_sdpa)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """(B, T, C) → (B, T, C): Linear to 4C → GELU → Linear back, the same for every position."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)
        self.approximate = ACTIVATIONS[cfg.activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.c_fc(x), approximate=self.approximate)  # (B, T, 4C)
        return self.dropout(self.c_proj(h))  # (B, T, C)


class Block(nn.Module):
    """Pre-norm Transformer block: positions talk (attention), then each thinks alone (MLP)."""

    def __init__(self, cfg: GPTConfig, layer: int = 0, use_sdpa: bool = True) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg, layer, use_sdpa)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache)  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)


class GPT(nn.Module):
    """Token ids (B, T) → next-token logits (B, T, vocab_size)."""

    def __init__(self, cfg: GPTConfig, use_sdpa: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(cfg.vocab_size, cfg.n_embd),
                "wpe": nn.Embedding(cfg.block_size, cfg.n_embd),
                "drop": nn.Dropout(cfg.dropout),
                "h": nn.ModuleList(Block(cfg, i, use_sdpa) for i in range(cfg.n_layer)),
                "ln_f": nn.LayerNorm(cfg.n_embd, bias=cfg.bias),
            }
        )
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied: one (vocab, C) matrix
        self.reset_parameters()

    @property
    def context_length(self) -> int:
        return self.cfg.block_size

    def reset_parameters(self) -> None:
        """GPT-2's initialisation: N(0, 0.02) for every matrix and embedding, zero biases, and
        N(0, 0.02/√(2·n_layer)) for the two projections that write into the residual stream.

        Each block adds two outputs to the residual stream, so after n_layer blocks its variance
        has grown by 2·n_layer contributions; shrinking those projections keeps the total near
        where a single one would put it, whatever the depth.
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            elif isinstance(module, nn.LayerNorm):
                module.reset_parameters()
        residual_std = 0.02 / math.sqrt(2 * self.cfg.n_layer)
        for block in self.transformer.h:
            nn.init.normal_(block.attn.c_proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp.c_proj.weight, mean=0.0, std=residual_std)

    def forward(
        self, idx: torch.Tensor, cache: KVCache | None = None, last_only: bool = False
    ) -> torch.Tensor:
        """idx (B, T) → logits (B, T, vocab), or (B, 1, vocab) for the last position only.

        With a ``cache``, ``idx`` holds the tokens that follow the ``cache.length`` already seen.
        """
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.cfg.block_size:
            raise ValueError(
                f"{start + T} positions but the model has embeddings for {self.cfg.block_size} (block_size): "
                "crop the input to the last block_size tokens"
            )
        positions = torch.arange(start, start + T, device=idx.device)  # (T,)
        x = self.transformer.wte(idx) + self.transformer.wpe(positions)  # (B, T, C)
        x = self.transformer.drop(x)
        for block in self.transformer.h:
            x = block(x, cache)  # (B, T, C)
        if cache is not None:
            cache.advance(T)
        x = self.transformer.ln_f(x[:, -1:] if last_only else x)  # (B, T or 1, C)
        return self.lm_head(x)  # (B, T or 1, vocab)

    def new_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        """An empty KV cache for ``batch_size`` sequences of up to ``max_len`` (default block_size) tokens."""
        cfg, weight = self.cfg, self.lm_head.weight
        return KVCache(
            cfg.n_layer, batch_size, cfg.n_head, cfg.n_embd // cfg.n_head, max_len or cfg.block_size,
            dtype=weight.dtype, device=weight.device,
        )  # fmt: skip

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, counting the tied matrix once; ``non_embedding`` leaves out the position
        embeddings (the token embedding stays: it is also the output layer)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def training_flops_per_token(self, seq_len: int | None = None) -> int:
        """Floating-point operations to train on one token (forward + backward) in sequences of
        ``seq_len`` (default block_size): what achieved FLOP/s and model-FLOP utilisation are
        computed from (Kaplan et al. 2020; the PaLM paper's appendix B).

        A matmul with a weight of N entries costs 2N flops per token forward (a multiply and an
        add per entry), and the backward pass twice that: 6N for the N weights of the Linears
        and the tied output layer (position embeddings are a lookup, not a matmul). Attention
        adds, per layer and token, q·k against T keys and the weighted sum of T values — 2·2·T·C
        forward, 12·T·C with the backward (counted for all T keys, as dense kernels do).
        """
        T = seq_len or self.cfg.block_size
        return 6 * self.num_params(non_embedding=True) + 12 * self.cfg.n_layer * self.cfg.n_embd * T

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Optimizer groups: matrices and embeddings decay, biases and LayerNorm gains do not."""
        return weight_decay_groups(self, weight_decay)

    def load_state_dict(self, state_dict: Mapping, strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict`` after checking that the weights fit this config: a state
        dict from another shape is one ``ConfigMismatch`` line naming both configurations."""
        if not strict and "transformer.wte.weight" not in state_dict:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        found = shape_of_state_dict(state_dict)
        expected = {name: getattr(self.cfg, name) for name in found}
        if found != expected:
            found_text = ", ".join(f"{k}={v!r}" for k, v in found.items())
            raise ConfigMismatch(
                f"these weights are for a GPT with {found_text}, but this model is {self.cfg}: "
                "build the model from the checkpoint's config"
            )
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def checkpoint(self) -> dict:
        """``{"config": …, "model": state_dict}``: what ``GPT.from_checkpoint`` rebuilds."""
        return {"config": asdict(self.cfg), "model": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping, expected: GPTConfig | None = None) -> GPT:
        """The model a ``checkpoint()`` was taken from; with ``expected``, first check that the
        checkpoint's config is that one (a one-line ``ConfigMismatch`` naming both if not)."""
        cfg = GPTConfig(**checkpoint["config"])
        if expected is not None and cfg != expected:
            raise ConfigMismatch(f"the checkpoint is for {cfg}, not {expected}")
        model = cls(cfg)
        model.load_state_dict(checkpoint["model"])
        return model


def shape_of_state_dict(state_dict: Mapping) -> dict:
    """What a GPT state dict tells about its config: vocab_size, block_size, n_layer, n_embd, bias.
    (n_head and the activation leave no trace in the shapes.)"""
    try:
        vocab_size, n_embd = state_dict["transformer.wte.weight"].shape
        block_size = state_dict["transformer.wpe.weight"].shape[0]
    except KeyError as error:
        raise ConfigMismatch(f"not a GPT state dict: it has no {error.args[0]!r}") from None
    layers = {int(m.group(1)) for key in state_dict if (m := re.match(r"transformer\.h\.(\d+)\.", key))}
    return {
        "vocab_size": vocab_size, "block_size": block_size, "n_layer": len(layers),
        "n_embd": n_embd, "bias": "transformer.ln_f.bias" in state_dict,
    }  # fmt: skip


class NextTokenLoss(nn.Module):
    """Cross-entropy of logits (B, T, vocab) against the next tokens (B, T): the mean over all
    B·T predictions, in nats per token (what ``fit`` takes as ``loss_fn``)."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


# Hugging Face's GPT-2 stores these four matrices as Conv1D weights, (in, out): the transpose of ours.
CONV1D = re.compile(r"transformer\.h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight")


def to_hf_gpt2(state_dict: Mapping) -> dict:
    """Our GPT's state dict → ``GPT2LMHeadModel``'s: Conv1D weights transposed, and zero biases
    where a ``bias=False`` GPT has none (GPT-2 always has them; a zero bias changes nothing)."""
    hf = {name: t.t() if CONV1D.fullmatch(name) else t for name, t in state_dict.items()}
    for name, t in list(hf.items()):
        prefix = name.removesuffix(".weight")
        if name.startswith("transformer.h.") or prefix == "transformer.ln_f":
            if name.endswith(".weight") and f"{prefix}.bias" not in hf:
                hf[f"{prefix}.bias"] = t.new_zeros(t.shape[1] if CONV1D.fullmatch(name) else t.shape[0])
    return hf


def from_hf_gpt2(state_dict: Mapping) -> dict:
    """``GPT2LMHeadModel``'s state dict → ours: Conv1D weights transposed, the masks some
    versions keep as buffers dropped, the tied ``lm_head.weight`` filled in if absent."""
    ours = {
        name: t.t() if CONV1D.fullmatch(name) else t
        for name, t in state_dict.items()
        if not name.endswith((".attn.bias", ".attn.masked_bias"))  # ours is attn.c_attn.bias
    }
    ours.setdefault("lm_head.weight", ours["transformer.wte.weight"])
    return ours
