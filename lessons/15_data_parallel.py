# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Data parallelism: from collectives to a cluster
#
# The gpt lesson trained a language model in one process. A bigger model or more data outgrows
# one processor; the first way out is **data parallelism**: N processes each hold the whole model,
# each computes the gradient on a different slice of the batch, and they *average* their gradients
# before every step — so all N take the same step, the one a single process would take on the
# whole batch, N times faster (if the averaging is cheap).
#
# This lesson runs on the engine you will use on a cluster: `torch.distributed`, with its
# **gloo** backend between CPU processes (on GPUs the same code uses **NCCL**), launched by
# `torchrun`, scheduled by Slurm. No simulation: every number below comes from 2 real processes
# exchanging real messages. In order:
#
# 1. processes, ranks and one thread each;
# 2. the four collectives data parallelism is made of;
# 3. an all-reduce written by hand — the **ring** — equal to `dist.all_reduce`, and what it costs;
# 4. data parallelism three ways, all equal: one process, gradients averaged by hand, `DistributedDataParallel`;
#    then gradient accumulation with `no_sync`, and DDP's buckets;
# 5. the GPT trained with DDP on 2 processes: the same loss curve as one process;
# 6. many machines: `torchrun`, the rendezvous, Slurm, the classic failures, and a lost worker.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("data-parallel")  # prints the mode, the run folder and the reference timings

# %%
import torch

from e2edl.distributed import collectives, data_parallel, ring
from e2edl.distributed.cost_model import LatencyBandwidth
from e2edl.distributed.local_group import LocalGroup, shared_group

# %% [markdown]
# ## 1. Processes, ranks, and a thread each
#
# A **process group** is a set of processes that can exchange tensors. Each has a **rank**,
# 0 … N−1, and knows the **world size** N. On a cluster `torchrun` starts the processes; in a
# notebook we start them ourselves. One catch: a new process cannot run a function defined in a
# notebook cell (it receives the function *by name* and imports it, and a notebook is not a module
# it can import). So the functions our workers run live in the library, `e2edl.distributed`, and we
# read their source here. `LocalGroup` starts the workers once and keeps them for the whole
# notebook; `group.run(f, *args)` calls `f(*args)` on every rank at once and returns what each
# rank returned, in rank order. A call that hangs fails after a timeout instead of freezing the
# notebook.
#
# **One thread per process.** PyTorch gives a process one thread per core. Two such processes on
# one machine run twice as many threads as there are cores, and with GNU OpenMP's default an idle
# thread *spins* (busy-waits) before it sleeps, stealing the core another process needs: two
# processes with a thread per core each run the same work several times slower than one alone,
# where sharing the cores fairly costs 2×. The full run measures it on 2 cores with a small CNN's
# training step, five times over because the number changes from one try to the next (the table
# `threads`, shown from the reference machine's run at the end). So every worker gets its share:
# `LocalGroup` gives each one thread (`OMP_NUM_THREADS=1`), `torchrun` does the same for its
# workers, and `import e2edl` shortens the spin for anything else.

# %%
show_source(LocalGroup.run)
group = shared_group(2)  # 2 worker processes on this machine, gloo, one thread each
print(group)

# %% [markdown]
# ## 2. The collectives
#
# Data-parallel training needs four operations in which *every* rank takes part. Each worker
# function below makes a small tensor that depends on its rank (rank r holds 10r + 1, 10r + 2, …),
# calls one collective and returns its tensor before and after.

# %%
show_source(collectives.all_reduce_example)

# %%
for name, example in collectives.EXAMPLES.items():
    for rank, result in enumerate(group.run(example)):
        print(f"{name:>14}, rank {rank}: {result['before'].tolist()} → {result['after'].tolist()}")

# %% [markdown]
# - **broadcast**: rank 0's tensor everywhere — how DDP starts every rank from the same weights;
# - **all_reduce** (sum): every rank gets the element-wise sum — how DDP averages gradients (sum, then ÷ N);
# - **all_gather**: every rank gets all ranks' tensors side by side — how FSDP (model-parallel
#   lesson) rebuilds a layer's weights from its shards;
# - **reduce_scatter**: the sum, cut in N pieces, rank r keeps piece r — how FSDP shards gradients.
#
# Look at the last two: an all-reduce *is* a reduce-scatter followed by an all-gather. That is the
# idea of the next section.
#
# ## 3. An all-reduce by hand: the ring
#
# The obvious all-reduce — everyone sends everything to rank 0, rank 0 adds and sends the sum
# back — makes rank 0's link carry 2(N−1) full tensors: it gets slower with every process you add.
# The **ring** spreads the work: the ranks stand in a circle, each sends only to its right
# neighbour, and the tensor travels in N chunks. First N−1 steps of *reduce-scatter* (at step s,
# rank r passes chunk r−s on and adds the chunk it receives into its own), then N−1 steps of
# *all-gather* (the completed chunks go round once more). Every rank sends 2(N−1) chunks of n/N
# values: about 2n **whatever N is**. Here it is, with `send`/`recv`:

# %%
show_source(ring.ring_all_reduce)

# %% [markdown]
# Note `isend` in `_exchange`: every rank sends and receives at the same time. If each first waited
# for its own send to be received, all would wait and none would receive — a deadlock.
#
# **Parity check** against `dist.all_reduce`, on the same random tensor of 10,001 values per rank
# (an odd size: the chunks are unequal). With two ranks both compute a + b, so they agree bit for bit:

# %%
for rank, result in enumerate(group.run(ring.compare_with_all_reduce, 10_001)):
    print(f"rank {rank}: max |ring − dist.all_reduce| = {result['max_difference']}")
    assert torch.equal(result["ring"], result["all_reduce"])

# %% [markdown]
# **What it costs.** Send a message of b bytes and you pay a fixed **latency** α (system calls, a
# network round trip) plus b/β for the bytes at **bandwidth** β. The ring sends 2(N−1) messages of
# b/N bytes one after another:

# %%
show_source(LatencyBandwidth.ring_all_reduce_seconds)

# %% [markdown]
# Small messages are latency-bound (the 2(N−1)α term: the time barely moves with the size), large
# ones bandwidth-bound (time ∝ size). The hand-over below times our ring and gloo's all-reduce for
# message sizes from hundreds of bytes to megabytes, fits α and β to our ring's times, and draws
# the three. Keep the shape in mind: it is why DDP packs many small gradients into **buckets**.
#
# ## 4. Data parallelism three ways
#
# For a global batch of B samples cut into N equal slices, the mean loss is the mean of the
# slices' mean losses, and the gradient of a mean is the mean of the gradients:
#
# $$\nabla \frac{1}{B}\sum_{i=1}^{B} \ell_i \;=\; \frac{1}{N}\sum_{r=1}^{N} \nabla \frac{N}{B}\sum_{i \in \text{slice } r}\ell_i .$$
#
# Each rank computes one term on the right; an all-reduce (sum) ÷ N gives every rank the left side.
# By hand, after `loss.backward()` and before `optimizer.step()`:

# %%
show_source(data_parallel.average_gradients)

# %% [markdown]
# `DistributedDataParallel` does the same inside `backward`, and better: it all-reduces gradients
# in buckets *while the backward pass is still running* (the last layer's gradients are ready
# first), so the communication hides behind the computation. The check: a small MLP, 8 SGD steps on
# global batches of 32 — one process on the whole batch; 2 processes with 16 each, averaging by
# hand; 2 processes with DDP. Rank r's slice of a batch is `e2edl.data.rank_shard.rank_slice`, the
# same slicing `fit` uses under `torchrun`.

# %%
problem = data_parallel.Problem()
single = data_parallel.train_single(problem)
for label, fn in (("by hand", data_parallel.train_by_hand), ("DDP", data_parallel.train_ddp)):
    results = group.run(fn, problem)
    gap = max((r["weights"][n] - w).abs().max().item() for r in results for n, w in single["weights"].items())
    print(f"{label:>8}: final loss {results[0]['losses'][-1]:.6f} (one process {single['losses'][-1]:.6f}), "
          f"max |weight difference| {gap:.1e}")  # fmt: skip
    assert gap <= 1e-5

# %% [markdown]
# Equal to rounding (float32 adds the terms in another order), not bit for bit.
#
# **Gradient accumulation with `no_sync`.** When the batch you want does not fit, each rank runs k
# micro-batches and adds their gradients before one step. DDP would all-reduce after *each*
# backward — k times the communication for nothing, since only the sum matters. Inside
# `with ddp.no_sync():` the backward keeps its gradients local; the last backward, outside it,
# reduces the accumulated sum once. `train_ddp(problem, bucket_cap_mb, micro_batches, no_sync)`
# counts the all-reduces with a communication hook:

# %%
for no_sync in (False, True):
    r = group.run(data_parallel.train_ddp, problem, 25.0, 4, no_sync)[0]
    gap = max((r["weights"][n] - w).abs().max().item() for n, w in single["weights"].items())
    print(f"4 micro-batches, no_sync={no_sync!s:5}: {r['allreduces_per_step']:.0f} all-reduce(s) per step, "
          f"max |weight − one process's| {gap:.1e}")  # fmt: skip

# %% [markdown]
# **Buckets.** DDP groups gradients into buckets of `bucket_cap_mb` (25 MB by default) and starts a
# bucket's all-reduce as soon as all its gradients exist. Tiny buckets pay the latency α once per
# gradient; one huge bucket cannot start before the whole backward pass is done, so nothing
# overlaps. The hand-over's table `buckets` measures a 16-layer MLP at four bucket sizes — on two
# CPU processes of one machine the link is fast and the effect small; between GPU nodes it is
# not.
#
# ## 5. The GPT, data-parallel
#
# Now the model of the gpt lesson (a small character-level GPT on Tiny Shakespeare). The recipe
# trains it twice from the same start on the same global batches of 16 windows: once in this
# process, once with DDP on our 2 workers (8 windows each).

# %%
from e2edl.distributed import gpt_data_parallel
from e2edl.recipes.data_parallel import FULL_GPT, QUICK_GPT, character_ids, train_gpt_both_ways

show_source(gpt_data_parallel.train_gpt_ddp)
show_source(train_gpt_both_ways)

# %%
ids = character_ids()  # Tiny Shakespeare's training text as character ids
gpt = QUICK_GPT if QUICK else FULL_GPT
curves = train_gpt_both_ways(ids, gpt, group, run_dir=OUT / "gpt")
gap = max(abs(a - b) / a for a, b in zip(curves["single"], curves["ddp"]))
print(f"{gpt.steps} steps: loss {curves['single'][0]:.3f} → {curves['single'][-1]:.3f}; "
      f"largest relative difference between the two curves: {gap:.1e}")  # fmt: skip

# %% [markdown]
# (A changed `gpt` — `dataclasses.replace(gpt, lr=1e-3)` — needs another `run_dir`: the folder
# keeps the curves of the settings that made them.) The two curves agree to rounding; Adam lets
# rounding differences grow slowly over the steps, which is why the claim allows a little more
# for the longer full run.
#
# ## 6. The hand-over
#
# `run_lesson` reuses the curves trained above and measures the rest: the ring's cost against
# message size, the buckets, where a GPT step's time goes.

# %%
from e2edl.course import full_run, run_lesson
from e2edl.exercises import check  # for the exercises at the end

result = run_lesson("data-parallel", quick=QUICK, out=OUT, resume=True)

# %%
result.show("ring_cost")
print(f"fitted to our ring: α = {result.metrics['ring_latency_us']:.0f} µs per message, "
      f"β = {result.metrics['ring_bandwidth_gb_per_s']:.2f} GB/s")  # fmt: skip

# %% [markdown]
# The left part is flat (latency: a message of a few hundred bytes costs as much as one of a few
# kilobytes), the right part climbs with the size (bandwidth). Two processes on one machine talk
# through the kernel's loopback, tens of microseconds apart; across a data-centre network α is
# larger still, which is what bucketing buys back.

# %%
result.tables["three_ways"]

# %%
result.tables["buckets"]

# %%
result.show("gpt_loss")
result.tables["step_breakdown"]

# %% [markdown]
# The breakdown times a step three ways: with `no_sync` (compute only, no all-reduce), as an
# ordinary DDP step (compute plus the all-reduces that the overlap did not hide), and one
# all-reduce of all the gradients alone. On 2 processes sharing 2 busy cores the numbers are
# noisy; the question to ask of them is how much of the step the communication adds.
# The reference machine's full run, with the thread measurement:

# %%
full_run("data-parallel")

# %% [markdown]
# ## 7. Many machines
#
# ### torchrun and its environment
#
# On a cluster you do not start processes by hand. `torchrun` starts `--nproc-per-node` copies of
# your script on each machine and tells each who it is in environment variables:
#
# | variable | meaning |
# |---|---|
# | `RANK`, `WORLD_SIZE` | this process's rank in the whole job, and how many processes there are |
# | `LOCAL_RANK`, `LOCAL_WORLD_SIZE` | its rank on this machine (which GPU to use), and how many here |
# | `GROUP_RANK` | which machine (node) of the job this is |
# | `MASTER_ADDR`, `MASTER_PORT` | where the processes meet to set up the group |
# | `TORCHELASTIC_RESTART_COUNT` | how often the group was restarted after a failure |
# | `OMP_NUM_THREADS` | set to 1 for each worker unless you set it |
#
# `e2edl.train.fit` reads them (`e2edl.train.distributed.init_from_env`): launched with a world size
# above 1 it joins the group, wraps the model in DDP (or FSDP2 with `strategy="fsdp"`), gives each
# rank its slice of every global batch, sums the losses over the ranks, and lets only rank 0 print
# and write the log and the checkpoint. The same script runs alone or under `torchrun`:
#
# ```bash
# torchrun --standalone --nproc-per-node 2 my_train.py      # 2 processes, this machine
# e2edl run mnist-mlp --nproc 2                              # the same, for a lesson that trains with fit
# torchrun --standalone --nproc-per-node 2 -m e2edl run NAME # what --nproc runs
# ```
#
# ### The rendezvous, and two nodes
#
# Across machines the processes first have to find each other: the **rendezvous**. Every node
# runs one `torchrun` with the same `--rdzv-endpoint HOST:PORT` and `--rdzv-id`; the first to arrive
# at HOST opens a small key-value store there, each node registers, and when `--nnodes` have come
# the store hands out ranks. Two launchers on one machine act as two nodes (the course's tests run
# exactly this):
#
# ```bash
# torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint localhost:29400 --rdzv-id job1 my_train.py &
# torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint localhost:29400 --rdzv-id job1 my_train.py
# ```
#
# ### Slurm
#
# On a Slurm cluster, `scripts/slurm/torchrun.sbatch` (in the repository) starts one `torchrun` per
# node with `srun`, and takes the rendezvous host from the allocation: the first line of
# `scontrol show hostnames "$SLURM_JOB_NODELIST"` (read whole: `| head -n 1` would kill scontrol
# with SIGPIPE on a long list, and the script's `set -o pipefail` would fail the job). Submit it
# with what torchrun should run: `sbatch scripts/slurm/torchrun.sbatch -m e2edl run mnist-mlp`.
# (This lesson and the model-parallel one start their own worker processes, so they refuse to run
# under torchrun.) The course tests the script with stand-in `srun` and `scontrol` that run two
# "nodes" on one machine.

# %%
from pathlib import Path

script = Path("scripts/slurm/torchrun.sbatch")
print(
    script.read_text()
    if script.exists()
    else "(the script is in the course repository: scripts/slurm/torchrun.sbatch)"
)

# %% [markdown]
# ### The classic failures
#
# - **A hang.** A collective waits until *every* rank calls it. One rank that skips it — an extra
#   batch on one rank, an `if rank == 0:` around a collective, a node that never arrived — leaves
#   the others waiting, silently, until the group's timeout (`init_process_group(timeout=...)`; 10
#   minutes for gloo by default). Below, rank 0 calls `all_reduce` and rank 1 does not; our group
#   gives up after 5 seconds and says so. (`fit` gives every rank the same number of batches for
#   this reason.)
# - **A second node that never joins.** The first node prints that it waits for the rendezvous and,
#   after `--rdzv-conf join_timeout=…` (600 s), fails with `RendezvousTimeoutError`. Causes: the
#   endpoint names a host the second node cannot reach; a firewall closes the port (open it, or
#   pick one that is open: `E2EDL_RDZV_PORT` in the Slurm script); the nodes disagree on `--rdzv-id`.
# - **A mismatched world size.** Nodes launched with different `--nnodes` or `--nproc-per-node`
#   never agree: the rendezvous waits for a node count that never comes, then times out. With a
#   hand-set `MASTER_ADDR`/`WORLD_SIZE` (no torchrun), a wrong `WORLD_SIZE` hangs
#   `init_process_group` the same way.
# - **A port in use.** Two jobs on one machine with the same `MASTER_PORT` or rendezvous port: the
#   second fails with `EADDRINUSE` ("address already in use") — or joins the first job's rendezvous.
#   `--standalone` picks a free port for you; so does `LocalGroup`.

# %%
from e2edl.distributed.local_group import GroupFailed

demo = LocalGroup(2, timeout=30)
try:
    demo.run(collectives.hang_on_rank_zero, timeout=5)
except GroupFailed as error:
    print("GroupFailed:", str(error).splitlines()[0])
demo.close()

# %% [markdown]
# ### A lost worker
#
# On a cluster a process can die (a node reboots, a kill for memory). With
# `torchrun --max-restarts 1` the launcher notices, stops the other workers and starts the whole
# group again; a training script that resumes from its last checkpoint (`fit(..., resume=True)`)
# continues from there. `run_lesson` above tried it: the job below (a small MLP with dropout and
# a noise augmentation, so each rank's random state matters) ran once straight through on our 2
# ranks, and once under `torchrun --nproc-per-node 2 --max-restarts 1`, where rank 1 was killed
# with SIGKILL a few batches into its second epoch (`e2edl.distributed.lost_worker.lose_a_worker`).

# %%
from e2edl.distributed import lost_worker

show_source(lost_worker.train)
result.tables["lost_worker"]

# %% [markdown]
# The restarted group resumed from the checkpoint after the first epoch and ended with **the same
# weights, bit for bit**, as the straight run (the last column: 0; the claims table checks it).
# Bit for bit takes two things. The checkpoint holds every rank's random state, not only rank 0's
# (each rank draws its own dropout masks and noise): resumed with rank 0's state on both, rank 1
# would draw other masks than the straight run did. And the restarted group gets a fresh
# key-value namespace (`init_from_env` prefixes its keys with the restart count): torchrun keeps
# its store across restarts, and a stale address left there by the dead rank would otherwise send
# the new ranks to a port nobody listens on. The killed run's seconds are mostly the start-up of
# new processes (each imports PyTorch), twice: at the launch and at the restart; the straight run
# used our 2 processes, running already. On a cluster a restart also waits for a replacement node.

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise cell holds a stub; write the function, run the cell, then run the check below it.
# It prints ✓, or ✗ with a hint saying what is wrong. (`e2edl check data-parallel --notebook
# YOUR_COPY.ipynb` runs the same checks from a terminal.)
#
# ### 1. One step of the ring's reduce-scatter
#
# Simulate the ring in one process: `chunks[r][c]` is rank r's chunk c (a tensor), N ranks, N
# chunks each. Return every rank's chunks after step `step` of the reduce-scatter, in which every
# rank at once sends chunk `(r - step) mod N` to its right neighbour and adds the chunk it receives
# from its left neighbour into its own copy of that chunk. After N−1 steps rank r holds the
# complete sum of chunk `(r + 1) mod N`.

# %% tags=["exercise"]
import torch


def ring_reduce_scatter_step(chunks: list[list[torch.Tensor]], step: int) -> list[list[torch.Tensor]]:
    """chunks[r][c]: rank r's chunk c → every rank's chunks after this step (a new list)."""
    raise NotImplementedError  # your code here


# %%
check("ring-reduce-scatter-step", ring_reduce_scatter_step)

# %% [markdown]
# ### 2. What the ring costs
#
# Write the ring all-reduce's time for `nbytes` bytes over `world_size` ranks, with latency
# `latency` (seconds per message) and bandwidth `bandwidth` (bytes per second).


# %% tags=["exercise"]
def ring_all_reduce_seconds(nbytes: float, world_size: int, latency: float, bandwidth: float) -> float:
    """Seconds of one ring all-reduce in the latency–bandwidth model (0 for a single rank)."""
    raise NotImplementedError  # your code here


# %%
check("ring-all-reduce-seconds", ring_all_reduce_seconds)
