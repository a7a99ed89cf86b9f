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
# # Model parallelism: sharding, tensor and pipeline parallelism
#
# Data parallelism (the data-parallel lesson) keeps a whole copy of the model on every process.
# Training with AdamW needs, per parameter, the weight, its gradient and two optimizer moments —
# 16 bytes in float32: a 7-billion-parameter model needs 112 GB before a single activation, more
# than any one GPU holds. Three ways to split the *model* itself, each on the character-level GPT
# of the gpt lesson, each checked against the same model on one device:
#
# 1. **FSDP2** (fully sharded data parallel): still data parallel, but each of N ranks *stores*
#    only 1/N of every parameter, gradient and optimizer state, and gathers a layer's full weights
#    just while it computes;
# 2. **tensor parallelism**: each rank holds a slice of every matrix and computes a slice of every
#    layer (Megatron-LM's split, with PyTorch's DTensor);
# 3. **pipeline parallelism**: each rank holds some of the blocks, and micro-batches flow through
#    them like cars through a car wash (GPipe and 1F1B, with `torch.distributed.pipelining`).
#
# Everything runs in 2 real processes talking over gloo on this CPU; the same code runs on GPUs
# with NCCL. The first cell after the set-up checks that each of the three runs here — where one
# does not, the lesson says why and skips it instead of pretending.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("model-parallel")  # prints the mode, the run folder and the reference timings

# %%
import torch

from e2edl.distributed import fsdp, pipeline, smoke, tensor_parallel
from e2edl.distributed.local_group import shared_group
from e2edl.recipes.data_parallel import FULL_GPT, QUICK_GPT, character_ids

group = shared_group(2)  # 2 worker processes, gloo, one thread each (see the data-parallel lesson)
runs_here = group.run(smoke.check)[0]
for piece, verdict in runs_here.items():
    print(f"{piece:>16}: {verdict}")

# %% [markdown]
# ## 1. FSDP2: shard everything, gather what you need
#
# `fully_shard(module)` replaces each parameter by a **DTensor** — a tensor that knows it is
# split over a device mesh — of which every rank keeps its own rows (`to_local()`). Before the
# module runs forward (and again in backward), an **all-gather** rebuilds its full weights, freed
# right after; its gradients are summed and split back with a **reduce-scatter**, so each rank
# gets the gradient of its own rows, and the optimizer updates only those. Applied block by block
# (each transformer block its own unit), only one block's full weights exist at a time. This is
# `wrap_model(model, "fsdp")`, which `fit` uses under `torchrun` with `strategy="fsdp"`:

# %%
from e2edl.train import parallel_model

show_source(parallel_model._fully_shard)

# %% [markdown]
# **Memory per rank.** A CPU has no per-process allocator statistics to read, so we count: the
# bytes of each rank's local pieces of parameters, gradients and AdamW's two moments, after one
# training step, under DDP and under FSDP2.

# %%
ids = character_ids()  # Tiny Shakespeare's training text as character ids
gpt = QUICK_GPT if QUICK else FULL_GPT
if runs_here["fsdp2"] == "ok":
    for strategy in ("ddp", "fsdp"):
        for rank, counts in enumerate(group.run(fsdp.bytes_per_rank, ids, gpt, strategy)):
            print(
                f"{strategy:>4}, rank {rank}: "
                + ", ".join(f"{k} {v / 1e6:.3f} MB" for k, v in counts.items())
            )
else:
    print("FSDP2 does not run here:", runs_here["fsdp2"])

# %% [markdown]
# Half per rank with 2 ranks (1/N with N): the shards cover every parameter once (the few
# extra bytes are padding — FSDP2 splits each tensor's first dimension in N equal pieces). The
# price is communication: where DDP all-reduces the gradients once per step, FSDP2 all-gathers
# each block's weights in forward *and* backward, and reduce-scatters its gradients — three
# collectives moving (N−1)/N of the parameters each, against the all-reduce's two: 1.5× DDP's
# traffic, for N× less memory.
#
# **Sharded checkpoints.** Gathering a huge model onto one rank to save it would need the memory
# we just saved. `torch.distributed.checkpoint` (DCP) instead has every rank write its own shards,
# plus a plan saying which piece of which tensor is where; loading reads the pieces each loader
# needs — into any number of ranks, even one process without a group (*resharding*):

# %%
show_source(fsdp.load_resharded)

# %% [markdown]
# ## 2. Tensor parallelism: split every matrix
#
# The GPT's MLP is `c_proj(gelu(c_fc(x)))`. Split `c_fc` **column-wise** (rank r computes hidden
# units r·4C/N … of every token) and `c_proj` **row-wise** (rank r multiplies only its own hidden
# units): GELU acts on each unit alone, so no rank needs another's units, and each ends with a
# *partial* output; one all-reduce sums them. Attention splits the same way by **heads** — heads
# are independent until `c_proj` mixes them.
#
# One snag: the GPT makes queries, keys and values with one fused matrix `c_attn`, its output rows
# ordered q | k | v. A column split of that hands rank 0 all the queries and half the keys, and
# rank 1 the rest — no rank can compute a single head:

# %%
from e2edl.nn.gpt import GPT

for rank, rows in tensor_parallel.fused_split_goes_wrong(gpt.config).items():
    print(f"rank {rank} would get query rows {rows['q']}, key rows {rows['k']}, value rows {rows['v']}")

# %% [markdown]
# So first reorder the rows per rank — rank 0's heads' q, k, v, then rank 1's — which computes
# exactly the same function (parity check below), and then split:

# %%
show_source(tensor_parallel.grouped_rows)
show_source(tensor_parallel.block_plan)

torch.manual_seed(0)
plain, grouped = GPT(gpt.config), GPT(gpt.config)
grouped.load_state_dict(plain.state_dict())
tensor_parallel.group_heads(grouped, 2)
x = torch.randint(gpt.config.vocab_size, (2, gpt.config.block_size))
print(f"grouped rows, same model: max |logit difference| {(grouped(x) - plain(x)).abs().max().item():.1e}")

# %% [markdown]
# Now the real thing: `parallelize_module` with that plan on each block, in our 2 processes,
# against the single-device GPT on the same tokens — the logits, and every gradient (the split
# `c_attn`'s put back in q | k | v order):

# %%
if runs_here["tensor_parallel"] == "ok":
    tp = group.run(tensor_parallel.compare_with_single_device, gpt.config)[0]
    print("max differences:", {k: f"{v:.1e}" for k, v in tp["max_difference"].items()})
    print(f"collectives in one step: {tp['collectives']} — {tp['all_reduces_per_block']:.0f} per block, "
          f"each {tp['bytes_per_all_reduce']:,} bytes (the activations of the batch)")  # fmt: skip
else:
    print("tensor parallelism does not run here:", runs_here["tensor_parallel"])

# %% [markdown]
# Four all-reduces per block and step: two in forward (after attention's and the MLP's row-wise
# `c_proj`), two in backward (the gradient reaching each column-wise input is partial, too).
# Each moves the activations, `(B, T, C)` — not the weights — so tensor parallelism pays per
# *token*, every layer: it belongs inside a machine, on the fastest links (NVLink), while data
# parallelism and FSDP, which pay per *parameter* once a step, span machines.
#
# ## 3. Pipeline parallelism: split the blocks
#
# Give rank 0 the embeddings and the first half of the blocks, rank 1 the rest and the output
# layer. Rank 1 waits for rank 0's activations, rank 0 waits for rank 1's gradients: alone, each
# is idle half the time. Cut the batch into m **micro-batches** and the stages work on different
# micro-batches at once; only the filling and the draining of the pipe stay idle — the **bubble**,
# (p−1)/(m+p−1) of the step for p stages. **GPipe** runs all m forwards, then all m backwards;
# **1F1B** starts each micro-batch's backward as soon as it can, so a stage holds at most p
# micro-batches' activations instead of m, for the same bubble. The stage module:

# %%
show_source(pipeline.GPTStage.forward)

# %% [markdown]
# The output layer shares its matrix with the token embedding, which now lives on the other stage:
# each stage keeps a copy, and after backward the two gradients are summed (`sum_tied_gradients`)
# so both copies take the same step — exactly the tied model's gradient. The check, against the
# single-device GPT on the same batches:

# %%
from e2edl.distributed.gpt_data_parallel import train_gpt_single

check_run = gpt.with_steps(5)
reference = train_gpt_single(ids, check_run)
for schedule in pipeline.SCHEDULES:
    if runs_here[f"pipeline_{schedule}"] != "ok":
        print(f"{schedule} does not run here:", runs_here[f"pipeline_{schedule}"])
        continue
    losses = group.run(pipeline.train_pipeline, ids, check_run, schedule, 4)[0]
    gap = max(abs(a - b) / a for a, b in zip(reference, losses))
    print(f"{schedule:>5}, 4 micro-batches: largest relative loss difference over 5 steps {gap:.1e}")

# %% [markdown]
# ## 4. The hand-over
#
# `run_lesson` trains the GPT each way for the lesson's budget and measures the bubble: 2 stages,
# several micro-batch counts, both schedules. To measure a bubble on 2 shared CPU cores, each
# micro-batch's forward and backward on each stage also waits a fixed 20 ms (50 ms in the full
# run) — standing in for a GPU's compute, and using no core — so the idle time measured is the
# schedule's, not the machine's.

# %%
from e2edl.course import full_run, run_lesson
from e2edl.exercises import check  # for the exercises at the end

result = run_lesson("model-parallel", quick=QUICK, out=OUT, resume=True)

# %%
result.tables["memory"]

# %%
result.show("losses")

# %% [markdown]
# One curve: DDP, FSDP2 and the two pipelines follow the single process's losses to rounding.

# %%
result.show("bubble")
result.tables["bubble"]

# %% [markdown]
# With one micro-batch the pipeline is idle about half the time, as the theory says for 2 stages;
# more micro-batches shrink the bubble. The measured points lie above the curve, and more so for
# many micro-batches: every micro-batch also costs a send, a receive and some Python scheduling,
# which the theory leaves out — the reason real pipelines keep micro-batches large enough to
# outweigh them. The `peak_in_flight` column is the memory story: GPipe keeps all m micro-batches'
# activations alive, 1F1B at most p. The reference machine's full run:

# %%
full_run("model-parallel")

# %% [markdown]
# ## 5. Putting them together
#
# Large models combine all three on a mesh of devices: tensor parallelism inside a machine
# (fast links, per-token traffic), pipeline stages across a few machines (one activation per
# micro-batch crosses), and FSDP or DDP over the rest (per-parameter traffic, once a step).
# `init_device_mesh("cuda", (dp, pp, tp))` names those three dimensions, and each strategy takes
# its own sub-mesh. On this CPU we ran each alone on 2 processes; on a GPU cluster the same
# calls run with NCCL, launched by `torchrun` and Slurm as in the data-parallel lesson.

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise cell holds a stub; write the function, run the cell, then run the check below it.
# It prints ✓, or ✗ with a hint saying what is wrong. (`e2edl check model-parallel --notebook
# YOUR_COPY.ipynb` runs the same checks from a terminal.)
#
# ### 1. The tensor-parallel MLP, simulated
#
# In one process, compute the GPT's MLP as `world_size` ranks would: rank r takes its rows of
# `c_fc_weight` (shape `(4C, C)`, as `nn.Linear` stores it) and of `c_fc_bias`, and its columns of
# `c_proj_weight` (shape `(C, 4C)`); each rank computes its partial output; the partial outputs
# are summed (the all-reduce). Mind the output bias.

# %% tags=["exercise"]
import torch
import torch.nn.functional as F  # noqa: F401 — for your code


def tensor_parallel_mlp(x, c_fc_weight, c_fc_bias, c_proj_weight, c_proj_bias, world_size):
    """x (B, T, C) → (B, T, C): c_proj(gelu(c_fc(x))) computed as world_size ranks would."""
    raise NotImplementedError  # your code here


# %%
check("tensor-parallel-mlp", tensor_parallel_mlp)

# %% [markdown]
# ### 2. Whole heads for every rank
#
# `c_attn`'s 3C output rows are q (rows 0 … C−1), k (C … 2C−1), v (2C … 3C−1); head h's queries
# are rows h·hs … (h+1)·hs−1, likewise for keys and values. Return the order of the rows (a tensor
# of 3C indices) that puts rank 0's queries, keys and values first, then rank 1's, and so on, each
# rank owning C/N consecutive query rows.

# %% tags=["exercise"]
import torch


def grouped_qkv_rows(n_embd: int, world_size: int) -> torch.Tensor:
    """(3·n_embd,) int64: the new order of c_attn's output rows."""
    raise NotImplementedError  # your code here


# %%
check("grouped-qkv-rows", grouped_qkv_rows)

# %% [markdown]
# ### 3. The bubble
#
# A pipeline of `stages` stages runs `micro_batches` micro-batches through a forward sweep (and a
# backward sweep). What share of the step does each stage sit idle, in the ideal schedule?


# %% tags=["exercise"]
def bubble_fraction(stages: int, micro_batches: int) -> float:
    """The idle share of each stage, between 0 and 1."""
    raise NotImplementedError  # your code here


# %%
check("bubble-fraction", bubble_fraction)
