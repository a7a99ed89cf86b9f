"""The gpt lesson's recipe: a character-level GPT on Tiny Shakespeare, trained for a step budget.

nanoGPT's split and metric: the first 90% of ``input.txt`` to train on, the last 10% to validate
on, the loss in nats per character. Training draws ``batch_size`` random windows of
``block_size + 1`` characters per step (``RandomBatches``: an endless, checkpointed sampler);
validation scores **every** complete window of ``block_size`` characters of the validation text
(``validation_batches``: 1,742 windows, 111,488 predictions for ``block_size`` 64), so a score
does not depend on which random batches an evaluation happened to draw.

``train_gpt(data, recipe)`` builds ``GPT(recipe.model)``, AdamW over the library's parameter
groups (decay on matrices only), nanoGPT's schedule (a linear warm-up, then a cosine down to
``min_lr``), gradient clipping, and calls ``fit(..., steps=recipe.steps)``. The recipes below:

- ``NANOGPT_CPU``: nanoGPT's own CPU run from its README, setting for setting — 4 layers, 4 heads,
  width 128, context 64, batch 12, 2,000 steps, lr 1e-3 → 1e-4, warm-up 100, AdamW β₂ 0.99,
  weight decay 0.1, clipping 1.0, no dropout, no biases, exact GELU; float32, fused attention.
- ``FAST``: the same model shape, trained our way: 600 steps of 32 windows at a six times higher
  learning rate, bf16 autocast where the CPU has bf16 instructions, the attention written out
  there (on the CPU, the fused kernel's backward is slow in bf16), fused AdamW.
  ``benchmarks/gpt_vs_nanogpt.py`` races it against nanoGPT's own ``train.py``.
- ``LONG``: the best Shakespeare of about 15 minutes of two CPU cores: 6 layers, width 128, a
  context of 128 characters, 3,200 steps of 32 windows (its steps sized on the reference machine;
  the lesson's timing claim checks the budget: 4,800 steps took 20 minutes there and began to
  overfit after 3,600). At this budget a small model that reads many
  tokens beat a wider one (width 192, context 256) that reads fewer — measured on short runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch

from e2edl.data.text_windows import CharSplits, ConsecutiveWindows
from e2edl.nn.gpt import GPT, GPTConfig, NextTokenLoss
from e2edl.train.batches import RandomBatches
from e2edl.train.device import cpu_has_bf16
from e2edl.train.fit import fit
from e2edl.train.history import History
from e2edl.train.seeding import seed_everything

VALIDATION_BATCH = 128  # windows per validation batch: the score does not depend on it


@dataclass(frozen=True)
class GPTRecipe:
    """Everything that decides a training run, the model's shape included."""

    model: GPTConfig
    steps: int
    batch_size: int
    lr: float  # the peak learning rate, reached at the end of the warm-up
    min_lr: float  # where the cosine ends, at the last step
    warmup_steps: int
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99  # nanoGPT's choice for small batches (the GPT-2 recipe uses 0.95)
    grad_clip: float = 1.0
    amp: bool = False  # bf16 autocast (pays on CPUs with AVX512-BF16 or AMX, and on GPUs)
    fused_attention: bool = True  # F.scaled_dot_product_attention; False: the formula written out
    fused_optimizer: bool = False  # AdamW(fused=True): one kernel for all parameters
    compile: bool = False  # model.compile() (compile time counts in the run's seconds)
    eval_every: int = 250  # steps between validation scores (and checkpoints)

    def __post_init__(self) -> None:
        if not 0 <= self.warmup_steps < self.steps:
            raise ValueError(f"warmup_steps must be in [0, steps), got {self.warmup_steps} of {self.steps}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr must be in [0, lr], got {self.min_lr} with lr {self.lr}")

    @property
    def tokens(self) -> int:
        """Training tokens the recipe reads: steps × batch × context."""
        return self.steps * self.batch_size * self.model.block_size


CPU_BF16 = cpu_has_bf16()  # bf16 pays on CPUs with AVX512-BF16 or AMX; elsewhere FAST stays in float32
SHAKESPEARE_CHARS = 65  # distinct characters of Tiny Shakespeare (all of them occur in its first 90%)
NANOGPT_CPU_MODEL = GPTConfig(vocab_size=SHAKESPEARE_CHARS, block_size=64, n_layer=4, n_head=4, n_embd=128,
                              dropout=0.0, bias=False, activation="gelu")  # fmt: skip
NANOGPT_CPU = GPTRecipe(NANOGPT_CPU_MODEL, steps=2000, batch_size=12, lr=1e-3, min_lr=1e-4, warmup_steps=100)
FAST = GPTRecipe(NANOGPT_CPU_MODEL, steps=600, batch_size=32, lr=6e-3, min_lr=6e-4, warmup_steps=50,
                 amp=CPU_BF16, fused_attention=not CPU_BF16, fused_optimizer=True, eval_every=100)  # fmt: skip
LONG_MODEL = GPTConfig(vocab_size=SHAKESPEARE_CHARS, block_size=128, n_layer=6, n_head=4, n_embd=128,
                       dropout=0.0, bias=False, activation="gelu")  # fmt: skip
LONG = GPTRecipe(LONG_MODEL, steps=3200, batch_size=32, lr=5e-3, min_lr=5e-4, warmup_steps=100,
                 amp=CPU_BF16, fused_attention=not CPU_BF16, fused_optimizer=True, eval_every=400)  # fmt: skip
# Quick mode: the same recipes, far fewer steps (still far below the untrained ln 65 = 4.17).
NANOGPT_CPU_QUICK = replace(NANOGPT_CPU, steps=150, warmup_steps=20, eval_every=75)
FAST_QUICK = replace(FAST, steps=150, warmup_steps=20, eval_every=75)


def nanogpt_schedule(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, final_fraction: float
):
    """nanoGPT's learning rate as a ``LambdaLR``: step ``s`` of the warm-up runs at
    ``(s + 1) / (warmup_steps + 1)`` of the peak, then a cosine falls from the peak to
    ``final_fraction`` of it at ``total_steps``. Call ``scheduler.step()`` after every step."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return final_fraction + 0.5 * (1 + math.cos(math.pi * progress)) * (1 - final_fraction)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def validation_batches(
    data: CharSplits, block_size: int, batch_size: int = VALIDATION_BATCH
) -> ConsecutiveWindows:
    """Every complete window of ``block_size`` characters of the validation text, in order: the
    fixed set every validation score of the lesson (and of the nanoGPT benchmark) is taken on."""
    return ConsecutiveWindows(data.val_ids, block_size, batch_size)


def build_gpt(recipe: GPTRecipe) -> GPT:
    """The recipe's model, freshly initialised (seed first for repeatable weights)."""
    model = GPT(recipe.model, use_sdpa=recipe.fused_attention)
    if recipe.compile:
        model.compile()  # compiles in place: the state dict keeps its names
    return model


def train_gpt(
    data: CharSplits, recipe: GPTRecipe, *, run_dir=None, seed: int = 0, **fit_options
) -> tuple[GPT, History]:
    """Train ``recipe.model`` on ``data``'s training text for ``recipe.steps`` steps, scoring the
    whole validation text every ``recipe.eval_every`` steps; returns ``(model, history)``.

    ``fit_options`` go to ``fit`` as they are (``device``, ``resume``, ``progress``, ...).
    """
    if len(data.vocabulary) != recipe.model.vocab_size:
        raise ValueError(
            f"the data has {len(data.vocabulary)} tokens but the model's vocab_size is {recipe.model.vocab_size}: "
            "use dataclasses.replace(recipe.model, vocab_size=len(data.vocabulary))"
        )
    seed_everything(seed)  # the same initial weights for the same seed
    model = build_gpt(recipe)
    optimizer = torch.optim.AdamW(
        model.param_groups(recipe.weight_decay),
        lr=recipe.lr,
        betas=(recipe.beta1, recipe.beta2),
        fused=recipe.fused_optimizer or None,
    )
    history = fit(
        model,
        RandomBatches(data.train_ids, recipe.model.block_size, recipe.batch_size, seed=seed),
        steps=recipe.steps,
        eval_every=recipe.eval_every,
        loss_fn=NextTokenLoss(),
        optimizer=optimizer,
        scheduler=nanogpt_schedule(optimizer, recipe.warmup_steps, recipe.steps, recipe.min_lr / recipe.lr),
        scheduler_interval="step",
        val_loader=validation_batches(data, recipe.model.block_size),
        amp=recipe.amp,
        grad_clip=recipe.grad_clip,
        seed=seed,
        run_dir=run_dir,
        config=asdict(recipe),
        **fit_options,
    )
    return model, history
