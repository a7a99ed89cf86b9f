"""The data-parallel lesson's experiment: collectives, a ring all-reduce by hand and its cost,
data parallelism three ways, ``no_sync`` and buckets, and the GPT trained with DDP.

Everything distributed runs in one :class:`~e2edl.distributed.local_group.LocalGroup` of 2
gloo processes on this machine (the worker functions live in ``e2edl.distributed``, and the
notebook shows them). Measured: the four collectives on small tensors; the hand-written ring
against ``dist.all_reduce`` (equal) and the times of both against message size, with the
latency–bandwidth model fitted to the ring's; one process on the global batch against 2
processes averaging gradients by hand and against DDP (equal to rounding); gradient
accumulation with and without ``no_sync`` (all-reduces per step); the bucket size (all-reduces
and step time); the character-level GPT trained by one process and by DDP on 2 (the same loss
curve) and a step's time split into compute and communication; a worker killed under
``torchrun --max-restarts 1`` and the restarted group's final weights against an uninterrupted
run's (``e2edl.distributed.lost_worker``, in a fresh folder each time). Full mode also measures two
processes on the same cores with and without their fair share of threads.
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics

import matplotlib.pyplot as plt

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.distributed import collectives, data_parallel, ring, threads
from e2edl.distributed.cost_model import LatencyBandwidth
from e2edl.distributed.gpt_data_parallel import step_breakdown
from e2edl.distributed.local_group import LocalGroup, shared_group
from e2edl.distributed.lost_worker import lose_a_worker
from e2edl.figures import Table
from e2edl.recipes.data_parallel import FULL_GPT, QUICK_GPT, character_ids, train_gpt_both_ways
from e2edl.train.distributed import launched_by_torchrun

QUICK = {"ring_sizes": [2**k for k in range(8, 23, 2)], "repeats": 3, "gpt": QUICK_GPT, "threads": False}
FULL = {"ring_sizes": [2**k for k in range(4, 27)], "repeats": 9, "gpt": FULL_GPT, "threads": True}
BUCKET_CAPS_MB = [0.01, 0.5, 25.0, 1000.0]  # an MLP of 16 layers of 256²: 32 tensors, 4 MB


def _collective_rows(group: LocalGroup) -> list[dict]:
    rows = []
    for name, example in collectives.EXAMPLES.items():
        for rank, result in enumerate(group.run(example)):
            rows.append({"collective": name, "rank": rank, "before": result["before"].tolist(),
                         "after": result["after"].tolist()})  # fmt: skip
    return rows


def _ring_figure(sizes, ring_seconds, gloo_seconds, model: LatencyBandwidth) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.loglog(sizes, ring_seconds, "o", label="our ring (send/recv)")
    ax.loglog(sizes, gloo_seconds, "s", mfc="none", label="dist.all_reduce (gloo)")
    ax.loglog(sizes, [model.ring_all_reduce_seconds(b, 2) for b in sizes], "-", label=f"model: {model}")
    ax.set(xlabel="message size (bytes)", ylabel="seconds per all-reduce",
           title="All-reduce on 2 CPU processes: latency-bound, then bandwidth-bound")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _loss_figure(single: list[float], ddp: list[float]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.plot(range(1, len(single) + 1), single, label="1 process, global batch 16", lw=3, alpha=0.5)
    ax.plot(range(1, len(ddp) + 1), ddp, "--", label="DDP, 2 processes × 8")
    ax.set(xlabel="step", ylabel="train loss (nats/char)", title="The GPT: one process or two, one curve")
    ax.legend()
    fig.tight_layout()
    return fig


THREAD_REPEATS = 5  # each setting measured this many times, interleaved; the medians are shown


def _thread_rows() -> list[dict]:
    """Two processes on the same cores, with GNU OpenMP's default spin, 2 threads vs 1 each: a
    small CNN's median training step, each setting the median of ``THREAD_REPEATS`` measurements
    taken in turn (the slowdown under contention differs a lot from one measurement to the next)."""
    settings = {"one process, 2 threads": (2, False), "two processes, 2 threads each": (2, True),
                "one process, 1 thread": (1, False), "two processes, 1 thread each": (1, True)}  # fmt: skip
    measured = {name: [] for name in settings}
    with LocalGroup(2, threads=2, env={"GOMP_SPINCOUNT": "300000"}) as group:
        for _ in range(THREAD_REPEATS):
            for name, (threads_each, both) in settings.items():
                measured[name].append(group.run(threads.conv_step_seconds, threads_each, both)[0])
    alone = statistics.median(measured["one process, 2 threads"])
    rows = []
    for name, seconds in measured.items():
        ratios = sorted(s / alone for s in seconds)
        rows.append({"setting": name, "seconds per step": statistics.median(seconds),
                     "vs one alone": statistics.median(seconds) / alone,
                     "range vs one alone": f"{ratios[0]:.1f}–{ratios[-1]:.1f}"})  # fmt: skip
    return rows


def run(cfg: RunConfig) -> dict:
    if launched_by_torchrun():
        raise RuntimeError("this lesson starts its own worker processes: run it without --nproc or torchrun")
    settings = QUICK if cfg.quick else FULL
    sizes = settings["ring_sizes"]
    ids = character_ids()
    gpt = dataclasses.replace(settings["gpt"], seed=cfg.seed)
    problem = data_parallel.Problem(seed=cfg.seed)
    single_mlp = data_parallel.train_single(problem)

    group = shared_group(2)  # the notebook's workers, if it started them
    collective_rows = _collective_rows(group)
    ring_check = group.run(ring.compare_with_all_reduce, 10_001, cfg.seed)
    ring_seconds = group.run(ring.time_all_reduce, sizes, settings["repeats"], "ring")[0]
    gloo_seconds = group.run(ring.time_all_reduce, sizes, settings["repeats"], "gloo")[0]
    by_hand = group.run(data_parallel.train_by_hand, problem)
    ddp = group.run(data_parallel.train_ddp, problem)
    synced = group.run(data_parallel.train_ddp, problem, 25.0, 4, False)[0]
    deferred = group.run(data_parallel.train_ddp, problem, 25.0, 4, True)[0]
    buckets = group.run(data_parallel.bucket_timing, BUCKET_CAPS_MB, 256, 16)[0]
    curves = train_gpt_both_ways(ids, gpt, group, run_dir=cfg.out / "gpt", resume=cfg.resume)
    single_gpt, ddp_gpt = curves["single"], curves["ddp"]
    breakdown = group.run(step_breakdown, ids, gpt)[0]
    shutil.rmtree(cfg.out / "lost_worker", ignore_errors=True)  # the kill needs a run to interrupt
    lost = lose_a_worker(cfg.out / "lost_worker", group)
    thread_rows = _thread_rows() if settings["threads"] else []

    model = LatencyBandwidth.fit_ring(sizes, ring_seconds, world_size=2)
    weight_difference = max(
        (result["weights"][name] - tensor).abs().max().item()
        for result in [*by_hand, *ddp, synced, deferred]
        for name, tensor in single_mlp["weights"].items()
    )
    ways = [("one process, global batch 32", single_mlp), ("2 processes, gradients averaged by hand", by_hand[0]),
            ("2 processes, DistributedDataParallel", ddp[0]),
            ("DDP, 4 micro-batches, all-reduce each", synced), ("DDP, 4 micro-batches, no_sync", deferred)]  # fmt: skip
    three_ways = [
        {"training": label, "final loss": r["losses"][-1],
         "max |weight − one process's|": max((r["weights"][n] - t).abs().max().item() for n, t in single_mlp["weights"].items()),
         "all-reduces per step": r.get("allreduces_per_step", "—")}
        for label, r in ways
    ]  # fmt: skip
    loss_gap = max(abs(a - b) / a for a, b in zip(single_gpt, ddp_gpt))
    exposed = max(0.0, breakdown["step_seconds"] - breakdown["compute_seconds"])
    metrics = {
        "ring_max_difference": max(r["max_difference"] for r in ring_check),
        "three_ways_max_weight_difference": weight_difference,
        "no_sync_allreduces_per_step": deferred["allreduces_per_step"],
        "allreduces_saved_by_no_sync": synced["allreduces_per_step"] - deferred["allreduces_per_step"],
        "gpt_ddp_max_relative_loss_difference": loss_gap,
        "gpt_first_loss": single_gpt[0],
        "gpt_last_loss": sum(single_gpt[-5:]) / 5,
        "gpt_loss_drop": single_gpt[0] - sum(single_gpt[-5:]) / 5,
        "ring_latency_us": model.latency * 1e6,
        "ring_bandwidth_gb_per_s": model.bandwidth / 1e9,
        "gpt_step_seconds": breakdown["step_seconds"],
        "gpt_exposed_communication_share": exposed / breakdown["step_seconds"],
        "lost_worker_restarted": float(lost["restarted"] and lost["finished"]),
        "lost_worker_max_weight_difference": lost["max_weight_difference"],
    }
    if thread_rows:
        metrics["oversubscribed_slowdown"] = thread_rows[1]["vs one alone"]
        metrics["fair_share_slowdown"] = thread_rows[3]["vs one alone"]
    tables = {
        "collectives": Table(collective_rows, title="Each rank's tensor before and after each collective"),
        "three_ways": Table(
            three_ways,
            title=f"Data parallelism three ways (and accumulation), after {problem.steps} SGD steps",
            formats={"final loss": ".6f", "max |weight − one process's|": ".2e"},
        ),  # fmt: skip
        "buckets": Table(
            buckets,
            title="DDP bucket size: all-reduces per step and backward seconds (rank 0)",
            formats={"seconds": ".4f", "buckets": ".0f"},
        ),  # fmt: skip
        "step_breakdown": Table(
            [
                {"part": "compute only (no_sync)", "seconds": breakdown["compute_seconds"]},
                {"part": "DDP step (compute + overlapped all-reduce)", "seconds": breakdown["step_seconds"]},
                {
                    "part": f"one all-reduce of all {breakdown['gradient_bytes'] / 1e6:.2f} MB of gradients",
                    "seconds": breakdown["all_reduce_seconds"],
                },
            ],
            title="Where a GPT step's time goes (median, rank 0)",
            formats={"seconds": ".4f"},
        ),  # fmt: skip
    }
    tables["lost_worker"] = Table(
        [
            {"run (2 processes)": "straight through", "seconds": lost["straight_seconds"],
             "restarts": 0, "max weight difference to the straight run": 0.0},
            {"run (2 processes)": f"rank 1 killed in epoch {lost['resumed_after_epoch'] + 1} of {lost['epochs']}",
             "seconds": lost["killed_seconds"], "restarts": int(lost["restarted"]),
             "max weight difference to the straight run": lost["max_weight_difference"]},
        ],
        title=f"A lost worker: torchrun --max-restarts 1 resumes after epoch {lost['resumed_after_epoch']}",
        formats={"seconds": ".1f", "max weight difference to the straight run": ".1e"},
    )  # fmt: skip
    if thread_rows:
        tables["threads"] = Table(thread_rows, title="Two processes on 2 cores (GNU OpenMP's default spin)",
                                  formats={"seconds per step": ".3f", "vs one alone": ".1f"})  # fmt: skip
    return {
        "metrics": metrics,
        "figures": {
            "ring_cost": _ring_figure(sizes, ring_seconds, gloo_seconds, model),
            "gpt_loss": _loss_figure(single_gpt, ddp_gpt),
        },  # fmt: skip
        "tables": tables,
        "ring_sizes": sizes,
        "ring_seconds": ring_seconds,
        "gloo_seconds": gloo_seconds,
        "gpt_losses": {"single": single_gpt, "ddp": ddp_gpt},
    }


LESSON = Lesson(
    name="data-parallel",
    title="Data parallelism: collectives, a ring all-reduce by hand, DDP, many nodes",
    datasets=("tinyshakespeare",),
    claims=(
        Claim(
            "ring_max_difference",
            "==",
            0.0,
            0.0,
            "the hand-written ring all-reduce equals dist.all_reduce bit for bit on 2 ranks",
        ),
        Claim(
            "three_ways_max_weight_difference",
            "<=",
            1e-5,
            1e-5,
            "one process, gradients averaged by hand, DDP (and accumulation): the same weights to rounding",
        ),
        Claim(
            "allreduces_saved_by_no_sync",
            "==",
            3,
            3,
            "4 micro-batches: no_sync needs 1 all-reduce per step instead of 4",
        ),
        Claim(
            "gpt_ddp_max_relative_loss_difference",
            "<=",
            1e-3,
            5e-3,
            "the GPT's loss curve under DDP on 2 processes is one process's on the same global batch "
            "(to rounding, which Adam's steps let grow slowly)",
        ),
        Claim(
            "gpt_loss_drop",
            ">=",
            0.5,
            1.2,
            "and it learns (nats per character, first step minus the last five)",
        ),
        Claim(
            "lost_worker_restarted",
            "==",
            1,
            1,
            "rank 1 killed with SIGKILL mid-epoch: torchrun --max-restarts 1 restarted the group, which finished",
        ),
        Claim(
            "lost_worker_max_weight_difference",
            "==",
            0.0,
            0.0,
            "the restarted group ends with the uninterrupted run's weights, bit for bit",
        ),
        Claim(
            "oversubscribed_slowdown",
            ">=",
            None,
            3.0,
            "two processes with a thread per core each train a CNN at least 3× slower than one alone (median of 5), worse than fair sharing's 2×",
            kind="timing",
        ),  # fmt: skip
        Claim(
            "fair_share_slowdown",
            "<=",
            None,
            2.5,
            "with one thread each, two processes cost about 2× (fair sharing)",
            kind="timing",
        ),
    ),  # fmt: skip
    run=run,
)
