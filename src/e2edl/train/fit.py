"""One training loop for every lesson: ``fit`` trains, ``evaluate`` measures.

What ``fit`` does each epoch, in order: set the data order for the epoch, train on every batch
(AMP on CUDA, optional gradient clipping, per-step or per-epoch scheduler), evaluate on the
validation data with torchmetrics, append a line to ``metrics.jsonl``, save a checkpoint. The
checkpoint holds everything that decides what happens next — weights, optimizer, scheduler,
grad scaler, every RNG state, the epoch and the data order — so ``resume=True`` after a kill
finishes with exactly the weights an uninterrupted run would have (on the CPU, bit for bit).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from e2edl.train.checkpoint import check_same_config, load_checkpoint, save_checkpoint
from e2edl.train.device import pick_device
from e2edl.train.history import History
from e2edl.train.metrics_log import MetricsLog
from e2edl.train.seeding import get_rng_state, seed_everything, set_rng_state

CHECKPOINT_NAME = "checkpoint.pt"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint (if any) is left as it was."""


def progress_enabled(progress: bool) -> bool:
    """Progress bars are on unless the caller or ``E2EDL_PROGRESS=0`` turns them off."""
    return progress and os.environ.get("E2EDL_PROGRESS", "1") != "0"


def _to_device(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _amp_settings(device: torch.device, amp: bool | None) -> tuple[bool, torch.dtype]:
    """Mixed precision: on CUDA by default (bf16 where the GPU has it, else fp16 with loss
    scaling); on a CPU only when asked for (``amp=True``), in bf16, which pays off on CPUs with
    bf16 instructions (AVX512-BF16, AMX) and is slower than float32 on the others."""
    if device.type == "cuda":
        enabled = amp is None or bool(amp)
        return enabled, torch.bfloat16 if enabled and torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return bool(amp), torch.bfloat16
    return False, torch.float16


def _set_epoch(loader: Iterable, epoch: int) -> None:
    """Tell the loader (or its sampler) which epoch's order to produce."""
    for part in (loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
        if hasattr(part, "set_epoch"):
            part.set_epoch(epoch)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    loss_fn: nn.Module | None = None,
    metrics: Mapping[str, object] | None = None,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Mean loss (weighted by batch size) and each torchmetrics metric over ``loader``.

    Batches are ``(inputs, targets)``; ``model(inputs)`` gives the outputs fed to the loss and
    to each metric's ``update(outputs, targets)``.
    """
    device = pick_device(device)
    model.to(device)
    was_training = model.training
    model.eval()
    metrics = {name: metric.to(device) for name, metric in (metrics or {}).items()}
    for metric in metrics.values():
        metric.reset()
    use_amp, amp_dtype = _amp_settings(device, amp)
    total_loss, count = 0.0, 0
    for inputs, targets in tqdm(loader, desc="evaluate", leave=False, disable=not progress_enabled(progress)):
        inputs, targets = _to_device((inputs, targets), device)
        with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
            outputs = model(inputs)
        outputs = outputs.float()
        if loss_fn is not None:
            total_loss += loss_fn(outputs, targets).item() * len(targets)
            count += len(targets)
        for metric in metrics.values():
            metric.update(outputs, targets)
    model.train(was_training)
    result = {"loss": total_loss / max(count, 1)} if loss_fn is not None else {}
    result.update({name: float(metric.compute()) for name, metric in metrics.items()})
    return result


def fit(
    model: nn.Module,
    train_loader: Iterable,
    *,
    epochs: int,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scheduler_interval: str = "epoch",
    val_loader: Iterable | None = None,
    metrics: Mapping[str, object] | None = None,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    grad_clip: float | None = None,
    seed: int = 0,
    run_dir: str | Path | None = None,
    resume: bool = False,
    tensorboard: bool = False,
    progress: bool = True,
    eval_every: int | None = None,
    config: Mapping | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs; return the per-epoch :class:`History`.

    Args:
        train_loader: iterable of ``(inputs, targets)`` batches; if it (or its sampler) has
            ``set_epoch``, it is called before each epoch so the order depends on the epoch only.
        scheduler_interval: ``"epoch"`` or ``"step"`` — when ``scheduler.step()`` is called.
        metrics: name → torchmetrics metric, computed on ``val_loader`` as ``val_<name>``.
        device: ``None``/``"auto"`` picks cuda → mps → cpu.
        amp: mixed precision: default on for CUDA; ``True`` on a CPU trains in bf16 autocast.
        grad_clip: clip the global gradient norm to this value.
        seed: seeds Python, NumPy and torch at the start of a fresh run.
        run_dir: where ``metrics.jsonl`` and ``checkpoint.pt`` go; ``None`` keeps nothing on disk.
        resume: continue from ``run_dir/checkpoint.pt`` if it exists.
        eval_every: also evaluate (and log a record) every this many steps inside an epoch, for
            short runs where "when did it reach 99%?" needs a finer clock than epochs. Mid-epoch
            records have a fractional ``epoch`` (1.5 = half-way through the second epoch).
        config: the recipe's settings (plain values), saved in the checkpoint. Resuming from a
            checkpoint whose config differs is an error that names the differences: the weights
            would belong to another recipe. A finished checkpoint with the same config is reused
            as it is — no step is trained again.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if scheduler_interval not in ("epoch", "step"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
    if resume and run_dir is None:
        raise ValueError("resume=True needs the run_dir of the run to continue")
    if eval_every and not hasattr(train_loader, "__len__"):
        raise ValueError("eval_every needs a train_loader with a length (to place records inside the epoch)")
    if scheduler_interval == "step" and isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError("ReduceLROnPlateau needs a metric: use scheduler_interval='epoch'")
    device = pick_device(device)
    model.to(device)
    use_amp, amp_dtype = _amp_settings(device, amp)
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp and amp_dtype == torch.float16)
    run_dir = Path(run_dir) if run_dir is not None else None
    checkpoint_path = run_dir / CHECKPOINT_NAME if run_dir is not None else None
    log = MetricsLog(run_dir, tensorboard=tensorboard)
    show = progress_enabled(progress)

    history = History(run_dir=run_dir)
    start_epoch, global_step, elapsed = 0, 0, 0.0
    seed_everything(seed)  # also on resume: it switches deterministic kernels on for this process
    if resume and checkpoint_path.is_file():
        state = load_checkpoint(checkpoint_path, map_location="cpu")  # RNG states must stay on the CPU
        check_same_config(checkpoint_path, state.get("config"), config)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        if state.get("loader") is not None and hasattr(train_loader, "load_state_dict"):
            train_loader.load_state_dict(state["loader"])
        set_rng_state(state["rng"])
        start_epoch, global_step = state["epoch"], state["step"]
        history.records = list(state["history"])
        elapsed = history.last.get("elapsed", 0.0)
        if show:
            tqdm.write(f"resuming {run_dir} after epoch {start_epoch}")
    else:
        if resume and show:
            tqdm.write(f"no checkpoint in {run_dir}; starting from scratch")
    log.restart(history.records)

    steps_per_epoch = len(train_loader) if hasattr(train_loader, "__len__") else None

    def make_record(epoch_position: float, loss_sum: float, seen: int, since: float) -> dict:
        """Train loss since the last record, validation scores now, and the clock."""
        nonlocal elapsed
        record = {"epoch": epoch_position, "step": global_step, "train_loss": loss_sum / max(seen, 1)}
        record["lr"] = optimizer.param_groups[0]["lr"]
        if val_loader is not None:
            scores = evaluate(model, val_loader, loss_fn, metrics, device=device, amp=amp)
            record.update({f"val_{name}": value for name, value in scores.items()})
        record["seconds"] = round(time.perf_counter() - since, 4)
        elapsed += record["seconds"]
        record["elapsed"] = round(elapsed, 4)
        history.records.append(record)
        log.log(record)
        return record

    epoch_bar = tqdm(
        range(start_epoch, epochs), desc="epochs", initial=start_epoch, total=epochs, disable=not show
    )
    for epoch in epoch_bar:
        since = time.perf_counter()
        _set_epoch(train_loader, epoch)
        model.train()
        loss_sum, seen = 0.0, 0
        batch_bar = tqdm(train_loader, desc=f"epoch {epoch + 1}", leave=False, disable=not show)
        for batch_index, (inputs, targets) in enumerate(batch_bar):
            inputs, targets = _to_device((inputs, targets), device)
            with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
                outputs = model(inputs)
                loss = loss_fn(outputs, targets)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                where = (
                    f"the last good checkpoint is {checkpoint_path}"
                    if checkpoint_path and checkpoint_path.is_file()
                    else "no checkpoint was written"
                )
                raise TrainingDiverged(
                    f"loss became {loss_value} at epoch {epoch + 1}, step {global_step + 1}; {where}. "
                    "Try a lower learning rate or gradient clipping (grad_clip)."
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scale = scaler.get_scale() if scaler.is_enabled() else None
            scaler.step(optimizer)
            scaler.update()
            skipped = scale is not None and scaler.get_scale() < scale  # fp16 overflow: no update made
            if scheduler is not None and scheduler_interval == "step" and not skipped:
                scheduler.step()
            global_step += 1
            batch_size = len(targets)
            loss_sum += loss_value * batch_size
            seen += batch_size
            batch_bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
            last_batch = steps_per_epoch is not None and batch_index + 1 == steps_per_epoch
            if eval_every and global_step % eval_every == 0 and not last_batch:
                make_record(round(epoch + (batch_index + 1) / steps_per_epoch, 4), loss_sum, seen, since)
                loss_sum, seen, since = 0.0, 0, time.perf_counter()

        record = make_record(epoch + 1, loss_sum, seen, since)
        if scheduler is not None and scheduler_interval == "epoch":
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(record.get("val_loss", record["train_loss"]))
            else:
                scheduler.step()
        epoch_bar.set_postfix(
            {k: f"{v:.4g}" for k, v in record.items() if k.startswith(("train_loss", "val_"))}
        )

        if checkpoint_path is not None:
            save_checkpoint(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                    "loader": train_loader.state_dict() if hasattr(train_loader, "state_dict") else None,
                    "rng": get_rng_state(),
                    "epoch": epoch + 1,
                    "step": global_step,
                    "history": history.records,
                    "config": dict(config) if config is not None else None,
                },
                checkpoint_path,
            )
    log.close()
    return history
