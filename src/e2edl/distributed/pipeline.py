"""Pipeline parallelism on the GPT: the blocks cut into stages, one stage per rank, micro-batches
flowing through them (``torch.distributed.pipelining``: GPipe and 1F1B).

Stage 0 holds the embeddings and the first half of the blocks, the last stage the other half,
the final LayerNorm and the output layer. A batch is cut into m micro-batches; while stage 1
works on micro-batch 1, stage 0 already computes micro-batch 2. With p stages the pipeline
fills and drains: of the ``m + p - 1`` time slots of a forward (or backward) sweep each stage is
busy ``m``, so the idle *bubble* is

    (p - 1) / (m + p - 1)      — 1/3 for p = 2, m = 2; 1/9 for m = 8.

GPipe runs all forwards, then all backwards: every stage keeps the activations of all m
micro-batches. 1F1B alternates one forward, one backward as soon as it can: the same bubble,
but at most p micro-batches' activations in memory. :func:`measure_schedule` records both.

**Tied weights.** The GPT's output layer shares its matrix with the token embedding, which now
lives on another stage. Each of the two stages keeps a copy; after the backward pass the two
gradients are summed between them (:func:`sum_tied_gradients`) so both copies take the same
step and stay equal — the tied model's gradient is exactly that sum.

**Measuring the bubble** on 2 shared CPU cores: the two stages' computations compete for the
same cores, which blurs "busy" and "idle". ``stage_seconds`` adds a fixed wait to every
micro-batch's forward and backward on each stage, standing in for a GPU's compute time (waiting
uses no core), so the measured idle time is the schedule's and not the machine's.
"""

from __future__ import annotations

import time

import torch
import torch.distributed as dist
from torch import nn

from e2edl.distributed.gpt_data_parallel import GPTRun, gpt_and_optimizer, gpt_batches
from e2edl.nn.gpt import GPT, NextTokenLoss

SCHEDULES = ("gpipe", "1f1b")


class _Wait(torch.autograd.Function):
    """Identity that sleeps ``seconds`` in the forward and in the backward pass."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, seconds: float) -> torch.Tensor:
        ctx.seconds = seconds
        time.sleep(seconds)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        time.sleep(ctx.seconds)
        return grad, None


class GPTStage(nn.Module):
    """Blocks ``first … last-1`` of a GPT, with the embeddings if it is the first stage and the
    head if it is the last. Token ids (B, T) or activations (B, T, C) in; activations or logits out.

    Also counts how many micro-batches have run forward but not yet backward (``in_flight``,
    with its maximum ``peak_in_flight``): the activations the stage must keep."""

    def __init__(self, gpt: GPT, first: int, last: int, stage_seconds: float = 0.0) -> None:
        super().__init__()
        n = gpt.cfg.n_layer
        self.is_first, self.is_last = first == 0, last == n
        if self.is_first:
            self.wte, self.wpe, self.drop = gpt.transformer.wte, gpt.transformer.wpe, gpt.transformer.drop
        self.blocks = nn.ModuleList(gpt.transformer.h[first:last])
        if self.is_last:
            self.ln_f = gpt.transformer.ln_f
            self.lm_head = nn.Linear(gpt.cfg.n_embd, gpt.cfg.vocab_size, bias=False)
            self.lm_head.weight = nn.Parameter(gpt.lm_head.weight.detach().clone())  # the tied copy
        self.stage_seconds = stage_seconds
        self.in_flight = self.peak_in_flight = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_first:
            positions = torch.arange(x.shape[1], device=x.device)
            x = self.drop(self.wte(x) + self.wpe(positions))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        if self.is_last:
            x = self.lm_head(self.ln_f(x))  # (B, T, vocab)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        x = _Wait.apply(x, self.stage_seconds) if self.stage_seconds else x
        x.register_hook(self._backward_done) if x.requires_grad else None
        return x

    def _backward_done(self, grad: torch.Tensor) -> None:
        self.in_flight -= 1

    def tied_weight(self) -> nn.Parameter | None:
        """This stage's copy of the embedding/output matrix (None on a middle stage)."""
        return self.wte.weight if self.is_first else self.lm_head.weight if self.is_last else None


def sum_tied_gradients(stage: GPTStage) -> None:
    """Sum the tied matrix's gradient over the first and the last stage (both then step alike)."""
    weight = stage.tied_weight()
    if weight is None or weight.grad is None:
        return
    if dist.get_world_size() != 2:  # more stages: a group of just the first and the last
        raise NotImplementedError("sum_tied_gradients is written for 2 stages")
    dist.all_reduce(weight.grad)


def split_gpt(gpt: GPT, stages: int, stage: int, stage_seconds: float = 0.0) -> GPTStage:
    """Stage ``stage`` of ``stages``: an equal share of the blocks."""
    n = gpt.cfg.n_layer
    if n % stages:
        raise ValueError(f"{n} blocks do not split into {stages} equal stages")
    per = n // stages
    return GPTStage(gpt, stage * per, (stage + 1) * per, stage_seconds)


def _schedule(name: str, pipeline_stage, micro_batches: int, batch: int):
    from torch.distributed.pipelining import Schedule1F1B, ScheduleGPipe

    if micro_batches < 1 or batch % micro_batches:
        raise ValueError(
            f"{micro_batches} micro-batches do not divide the batch of {batch}: the pipeline would cut "
            "inputs and targets differently; pick a divisor of the batch size"
        )

    schedules = {"gpipe": ScheduleGPipe, "1f1b": Schedule1F1B}
    if name not in schedules:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {name!r}")
    return schedules[name](pipeline_stage, n_microbatches=micro_batches, loss_fn=NextTokenLoss())


def train_pipeline(
    ids: torch.Tensor, run: GPTRun, schedule: str = "1f1b", micro_batches: int = 4
) -> list[float]:
    """Worker: ``run`` trained with the GPT cut in ``world_size`` stages; the losses (last stage's
    mean over the micro-batches: the global batch's loss; sent to every rank)."""
    from torch.distributed.pipelining import PipelineStage

    rank, world = dist.get_rank(), dist.get_world_size()
    gpt, _ = gpt_and_optimizer(run)
    stage = split_gpt(gpt, world, rank)
    optimizer = torch.optim.AdamW(_decay_groups(stage), lr=run.lr)
    pipe = _schedule(
        schedule, PipelineStage(stage, rank, world, torch.device("cpu")), micro_batches, run.global_batch
    )
    batches, losses = gpt_batches(ids, run), []
    for _ in range(run.steps):
        x, y = next(batches)  # (B, T): the first stage feeds x, the last compares with y
        optimizer.zero_grad(set_to_none=True)
        micro_losses: list[torch.Tensor] = []
        if stage.is_first:
            pipe.step(x)
        else:
            pipe.step(target=y, losses=micro_losses)
        sum_tied_gradients(stage)
        optimizer.step()
        loss = torch.stack(micro_losses).mean().detach() if micro_losses else torch.zeros(())
        dist.broadcast(loss, src=world - 1)
        losses.append(loss.item())
    return losses


def _decay_groups(stage: GPTStage) -> list[dict]:
    """The GPT's AdamW groups (matrices and embeddings decay; biases and gains do not)."""
    decay = [p for p in stage.parameters() if p.dim() >= 2]
    rest = [p for p in stage.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}]


def _micro_batch_seconds(stage: GPTStage, tokens: torch.Tensor, width: int, repeats: int = 3) -> float:
    """The fewest seconds of one micro-batch's forward + backward through ``stage`` alone."""
    seconds = []
    for _ in range(repeats):
        x = tokens if stage.is_first else torch.randn(*tokens.shape, width, requires_grad=True)
        start = time.perf_counter()
        stage(x).float().sum().backward()
        seconds.append(time.perf_counter() - start)
    stage.zero_grad(set_to_none=True)
    return min(seconds)


def measure_schedule(
    ids: torch.Tensor,
    run: GPTRun,
    schedule: str,
    micro_batches: int,
    stage_seconds: float = 0.02,
    steps: int = 2,
) -> dict:
    """Worker: this rank's idle share of a training step, against the theory.

    Busy time: this stage's forward + backward of one micro-batch, timed alone (no pipeline),
    times ``micro_batches``. Step time: until the last stage is done (the slowest rank's clock),
    the fastest of ``steps`` steps. Idle = 1 − busy / step time."""
    from torch.distributed.pipelining import PipelineStage

    rank, world = dist.get_rank(), dist.get_world_size()
    gpt, _ = gpt_and_optimizer(run)
    stage = split_gpt(gpt, world, rank, stage_seconds)
    pipe = _schedule(
        schedule, PipelineStage(stage, rank, world, torch.device("cpu")), micro_batches, run.global_batch
    )
    batches, seconds = gpt_batches(ids, run), []
    for _ in range(steps + 1):  # the first step sets the pipeline's buffers up: not timed
        x, y = next(batches)
        stage.peak_in_flight = stage.in_flight = 0
        dist.barrier()
        start = time.perf_counter()
        pipe.step(x) if stage.is_first else pipe.step(target=y, losses=[])
        elapsed = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)  # a step ends when its last stage is done
        seconds.append(elapsed.item())
    step = min(seconds[1:])  # the least disturbed step: other load only ever adds time
    busy = micro_batches * _micro_batch_seconds(stage, x.tensor_split(micro_batches)[0], gpt.cfg.n_embd)
    return {
        "schedule": schedule,
        "micro_batches": micro_batches,
        "step_seconds": step,
        "idle": max(0.0, 1 - busy / step),
        "theory": (world - 1) / (micro_batches + world - 1),
        "peak_in_flight": stage.peak_in_flight,
    }
