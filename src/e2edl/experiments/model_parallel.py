"""The model-parallel lesson's experiment: FSDP2, tensor parallelism and pipeline parallelism on
the character-level GPT, each checked against the single-device model.

All in a 2-process gloo group on this machine (``e2edl.distributed.local_group.shared_group``).
First the smoke check: which of FSDP2, DTensor tensor parallelism and ``torch.distributed.
pipelining`` (GPipe, 1F1B) run here — a piece that does not is reported with its error and
skipped. Measured: each rank's bytes of parameters, gradients and optimizer state under DDP and
FSDP2 and FSDP2's loss curve against DDP's; a sharded checkpoint saved by 2 ranks and loaded into
this one process; the tensor-parallel GPT's logits and gradients against the single-device GPT,
and the collectives a step adds; the pipelined GPT's losses (GPipe and 1F1B) against the
single-device GPT's, and the idle share of each stage for several micro-batch counts against
(p-1)/(m+p-1), with the micro-batches each stage holds at once.
"""

from __future__ import annotations

import dataclasses
import tempfile

import matplotlib.pyplot as plt

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.distributed import fsdp, pipeline, smoke, tensor_parallel
from e2edl.distributed.gpt_data_parallel import TINY_GPT, train_gpt_single
from e2edl.distributed.local_group import shared_group
from e2edl.figures import Table
from e2edl.recipes.data_parallel import FULL_GPT, QUICK_GPT, character_ids
from e2edl.train.distributed import launched_by_torchrun

QUICK = {"steps": 20, "micro_batches": [1, 2, 4, 8], "stage_seconds": 0.02, "timed_steps": 3}
FULL = {
    "steps": 200,
    "micro_batches": [1, 2, 4, 8, 16],
    "stage_seconds": 0.05,
    "timed_steps": 5,
}  # divisors of 16


def _relative_gap(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / abs(x) for x, y in zip(a, b))


def _bubble_figure(rows: list[dict]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for schedule, marker in (("gpipe", "o"), ("1f1b", "s")):
        mine = [r for r in rows if r["schedule"] == schedule]
        ax.plot([r["micro_batches"] for r in mine], [r["idle"] for r in mine], marker, mfc="none",
                label=f"measured, {schedule} (mean of the 2 stages)")  # fmt: skip
    m = sorted({r["micro_batches"] for r in rows})
    ax.plot(m, [1 / (k + 1) for k in m], "-", color="k", label="theory (p−1)/(m+p−1), p = 2")
    ax.set(xlabel="micro-batches m", ylabel="idle share of a step", ylim=(0, 0.7),
           title="The pipeline bubble: 2 stages")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _loss_figure(curves: dict[str, list[float]]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for (label, losses), style in zip(curves.items(), ("-", "--", ":", "-.", (0, (1, 3)))):
        ax.plot(range(1, len(losses) + 1), losses, linestyle=style, label=label, lw=3 if style == "-" else 1.5,
                alpha=0.5 if style == "-" else 1)  # fmt: skip
    ax.set(xlabel="step", ylabel="train loss (nats/char)", title="Every way of splitting the GPT: one curve")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def run(cfg: RunConfig) -> dict:
    if launched_by_torchrun():
        raise RuntimeError("this lesson starts its own worker processes: run it without --nproc or torchrun")
    settings = QUICK if cfg.quick else FULL
    ids = character_ids()
    base = QUICK_GPT if cfg.quick else FULL_GPT  # the data-parallel lesson's GPT
    gpt = dataclasses.replace(base, steps=settings["steps"], seed=cfg.seed)
    single = train_gpt_single(ids, gpt)
    group = shared_group(2)

    runs_here = group.run(smoke.check)[0]
    metrics: dict = {"pieces_running": sum(v == "ok" for v in runs_here.values())}
    tables = {"runs_here": Table([{"piece": k, "on gloo, CPU": v} for k, v in runs_here.items()],
                                 title="What runs on this machine (2 processes, gloo)")}  # fmt: skip
    curves = {"one process": single}

    if runs_here["fsdp2"] == "ok":
        memory = {s: group.run(fsdp.bytes_per_rank, ids, gpt, s) for s in ("ddp", "fsdp")}
        rows = [
            {"strategy": s.upper(), "rank": r, **counts}
            for s, per in memory.items()
            for r, counts in enumerate(per)
        ]
        tables["memory"] = Table(rows, title="Bytes each rank holds after a step (AdamW)")
        metrics["fsdp_over_ddp_bytes"] = max(
            f["total"] / d["total"] for d, f in zip(memory["ddp"], memory["fsdp"])
        )
        curves["DDP, 2 ranks"] = group.run(fsdp.losses, ids, gpt, "ddp")[0]
        curves["FSDP2, 2 ranks"] = group.run(fsdp.losses, ids, gpt, "fsdp")[0]
        metrics["fsdp_vs_ddp_max_relative_loss_difference"] = _relative_gap(
            curves["DDP, 2 ranks"], curves["FSDP2, 2 ranks"]
        )
        with tempfile.TemporaryDirectory() as folder:
            saved = group.run(fsdp.save_sharded, ids, gpt.with_steps(2), folder)[0]
            loaded = fsdp.load_resharded(folder, gpt).state_dict()
        metrics["resharded_checkpoint_max_difference"] = max(
            (loaded[name] - tensor).abs().max().item() for name, tensor in saved["full"].items()
        )
        tables["checkpoint_files"] = Table([{"file": f} for f in saved["files"]],
                                           title="A DCP checkpoint saved by 2 ranks")  # fmt: skip

    if runs_here["tensor_parallel"] == "ok":
        tp = group.run(tensor_parallel.compare_with_single_device, TINY_GPT)[0]
        metrics["tp_max_logit_difference"] = tp["max_difference"]["logits"]
        metrics["tp_max_gradient_difference"] = tp["max_difference"]["gradients"]
        metrics["tp_all_reduces_per_block"] = tp["all_reduces_per_block"]
        tables["tensor_parallel"] = Table(
            [{"quantity": "all-reduces per block per step (2 forward, 2 backward)", "value": tp["all_reduces_per_block"]},
             {"quantity": "bytes per all-reduce: activations (B, T, C) float32", "value": tp["bytes_per_all_reduce"]},
             {"quantity": f"bytes all-reduced per step, {TINY_GPT.n_layer} blocks, batch 2", "value": tp["bytes_per_step"]},
             {"quantity": "rank 0's slice of c_fc (rows, columns)", "value": str(tp["local_c_fc_shape"])}],
            title="Tensor parallelism: what a step communicates")  # fmt: skip
        tables["fused_split"] = Table(
            [{"rank": r, **parts} for r, parts in tensor_parallel.fused_split_goes_wrong(TINY_GPT).items()],
            title="Rows of q, k and v each rank would get from a column split of the fused c_attn")  # fmt: skip

    bubble_rows = []
    for schedule in pipeline.SCHEDULES:
        if runs_here[f"pipeline_{schedule}"] != "ok":
            continue
        label = {"gpipe": "pipeline, GPipe", "1f1b": "pipeline, 1F1B"}[schedule]
        curves[label] = group.run(pipeline.train_pipeline, ids, gpt, schedule, 4)[0]
        metrics[f"pipeline_{schedule}_max_relative_loss_difference"] = _relative_gap(single, curves[label])
        for m in settings["micro_batches"]:
            if schedule == "1f1b" and m < 2:  # 1F1B needs at least as many micro-batches as stages
                continue
            ranks = group.run(
                pipeline.measure_schedule,
                ids,
                gpt,
                schedule,
                m,
                settings["stage_seconds"],
                settings["timed_steps"],
            )
            mean_idle = sum(r["idle"] for r in ranks) / len(ranks)  # the theory holds for every stage
            bubble_rows.append(
                {**ranks[0], "idle": mean_idle, "peak_in_flight": max(r["peak_in_flight"] for r in ranks)}
            )
    figures = {"losses": _loss_figure(curves)}
    if bubble_rows:
        figures["bubble"] = _bubble_figure(bubble_rows)
        tables["bubble"] = Table(bubble_rows, title="The bubble: idle share of a step, measured and in theory",
                                 formats={"step_seconds": ".3f", "idle": ".3f", "theory": ".3f"})  # fmt: skip
        by = {(r["schedule"], r["micro_batches"]): r for r in bubble_rows}
        most = max(settings["micro_batches"])
        metrics["bubble_idle_m1"] = by[("gpipe", 1)]["idle"]
        metrics[f"bubble_idle_m{most}"] = by[("gpipe", most)]["idle"]
        metrics["bubble_shrinks_by"] = by[("gpipe", 1)]["idle"] - by[("gpipe", most)]["idle"]
        metrics["bubble_max_excess_over_theory"] = max(r["idle"] - r["theory"] for r in bubble_rows)
        metrics["gpipe_peak_in_flight"] = by[("gpipe", most)]["peak_in_flight"]
        metrics["one_f_one_b_peak_in_flight"] = by[("1f1b", most)]["peak_in_flight"]
    return {
        "metrics": metrics,
        "figures": figures,
        "tables": tables,
        "runs_here": runs_here,
        "losses": curves,
    }


LESSON = Lesson(
    name="model-parallel",
    title="Model parallelism: FSDP2, tensor and pipeline parallelism",
    datasets=("tinyshakespeare",),
    claims=(
        Claim("pieces_running", "==", 4, 4, "FSDP2, tensor parallelism, GPipe and 1F1B all run on gloo here"),
        Claim(
            "fsdp_over_ddp_bytes",
            "<=",
            0.51,
            0.51,
            "FSDP2 on 2 ranks: each rank holds half of DDP's parameters, gradients and AdamW state",
        ),
        Claim(
            "fsdp_vs_ddp_max_relative_loss_difference",
            "<=",
            1e-3,
            5e-3,
            "FSDP2's loss curve is DDP's (to rounding)",
        ),
        Claim(
            "resharded_checkpoint_max_difference",
            "==",
            0.0,
            0.0,
            "a checkpoint saved sharded by 2 ranks loads into 1 process with every weight equal",
        ),
        Claim(
            "tp_max_logit_difference", "<=", 1e-5, 1e-5, "tensor-parallel GPT: the single-device GPT's logits"
        ),
        Claim("tp_max_gradient_difference", "<=", 1e-5, 1e-5, "and its gradients"),
        Claim(
            "tp_all_reduces_per_block", "==", 4, 4, "4 all-reduces per block per step: 2 forward, 2 backward"
        ),
        Claim(
            "pipeline_gpipe_max_relative_loss_difference", "<=", 1e-4, 1e-3, "GPipe: the single-device losses"
        ),
        Claim(
            "pipeline_1f1b_max_relative_loss_difference", "<=", 1e-4, 1e-3, "1F1B: the single-device losses"
        ),
        Claim(
            "bubble_shrinks_by",
            ">=",
            0.1,
            0.2,
            "more micro-batches, a smaller bubble (GPipe, m = 1 → the most)",
        ),
        Claim(
            "bubble_max_excess_over_theory",
            "<=",
            None,
            0.15,
            "measured idle share within this of (p-1)/(m+p-1) (communication and Python add a little)",
            kind="timing",
        ),
        Claim(
            "one_f_one_b_peak_in_flight", "<=", 2, 2, "1F1B holds at most p = 2 micro-batches' activations"
        ),
    ),  # fmt: skip
    run=run,
)
