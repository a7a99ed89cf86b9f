"""Data, sharded, tensor and pipeline parallelism in a 2-process gloo group on the CPU: each runs,
and each equals the single-process computation within its stated tolerance.

One worker group serves the module (starting one costs seconds); it uses a free port, every
call has a timeout, and no process or listening port is left behind.
"""

from __future__ import annotations

import pytest
import torch

from distributed_support import TOKEN_VAR, assert_no_leftovers, new_token
from e2edl.distributed import data_parallel, fsdp, gpt_data_parallel, pipeline, smoke, tensor_parallel
from e2edl.distributed.gpt_data_parallel import GPTRun
from e2edl.distributed.local_group import LocalGroup
from e2edl.distributed.ports import is_listening
from e2edl.nn.gpt import GPT, GPTConfig

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TINY = GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=4, n_embd=32, dropout=0.0)
RUN = GPTRun(config=TINY, global_batch=8, steps=4)


@pytest.fixture(scope="module")
def group():
    token, mp = new_token(), pytest.MonkeyPatch()
    mp.setenv(TOKEN_VAR, token)
    group = LocalGroup(2, timeout=120).start()
    yield group
    port = group.port
    group.close()
    mp.undo()
    assert_no_leftovers(token)
    assert not is_listening(port)


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    return torch.randint(TINY.vocab_size, (4000,), generator=torch.Generator().manual_seed(0))


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], **data_parallel.TOLERANCE)


def test_fsdp2_tensor_and_pipeline_parallelism_run_on_gloo(group: LocalGroup) -> None:
    """The smoke test the lessons rely on: on PyTorch 2.14 with gloo on a CPU, all four run."""
    for report in group.run(smoke.check):
        assert report == dict.fromkeys(smoke.PIECES, "ok")


def test_data_parallelism_three_ways_agree(group: LocalGroup) -> None:
    problem = data_parallel.Problem()
    single = data_parallel.train_single(problem)
    for result in group.run(data_parallel.train_by_hand, problem) + group.run(
        data_parallel.train_ddp, problem
    ):
        assert_same_weights(result["weights"], single["weights"])
        assert result["losses"] == pytest.approx(single["losses"], rel=1e-5)


def test_no_sync_accumulates_with_one_all_reduce_per_bucket(group: LocalGroup) -> None:
    problem = data_parallel.Problem()
    single = data_parallel.train_single(problem)
    synced, deferred = (
        group.run(data_parallel.train_ddp, problem, 25.0, 4, no_sync)[0] for no_sync in (False, True)
    )
    for result in (synced, deferred):
        assert_same_weights(result["weights"], single["weights"])  # accumulation = the big batch
    assert deferred["allreduces_per_step"] == 1  # the small MLP fits one bucket
    assert synced["allreduces_per_step"] == 4  # one per micro-batch without no_sync


def test_bucket_size_sets_the_number_of_all_reduces(group: LocalGroup) -> None:
    rows = group.run(data_parallel.bucket_timing, [0.01, 1.0, 1000.0], 128, 4, 8, 2)[0]
    buckets = [row["buckets"] for row in rows]
    assert buckets[0] > buckets[1] >= buckets[2] == 1  # the smallest cap: about one per parameter


def test_gpt_ddp_follows_one_process_with_the_global_batch(group: LocalGroup, ids: torch.Tensor) -> None:
    single = gpt_data_parallel.train_gpt_single(ids, RUN)
    for losses in group.run(gpt_data_parallel.train_gpt_ddp, ids, RUN):
        assert losses == pytest.approx(single, **gpt_data_parallel.TOLERANCE)
    breakdown = group.run(gpt_data_parallel.step_breakdown, ids, RUN, 2)[0]
    assert breakdown["gradient_bytes"] == 4 * sum(
        p.numel() for p in gpt_data_parallel.gpt_and_optimizer(RUN)[0].parameters()
    )
    assert min(breakdown[k] for k in ("compute_seconds", "step_seconds", "all_reduce_seconds")) > 0


def test_fsdp_holds_half_per_rank_and_follows_ddp(group: LocalGroup, ids: torch.Tensor) -> None:
    ddp_bytes, fsdp_bytes = (group.run(fsdp.bytes_per_rank, ids, RUN, s) for s in ("ddp", "fsdp"))
    for d, f in zip(ddp_bytes, fsdp_bytes):
        assert f["total"] / d["total"] == pytest.approx(0.5, abs=0.01)  # 1/N, up to padding
    assert sum(f["parameters"] for f in fsdp_bytes) >= ddp_bytes[0]["parameters"]  # the shards cover all
    ddp_losses = group.run(fsdp.losses, ids, RUN, "ddp")[0]
    assert group.run(fsdp.losses, ids, RUN, "fsdp")[0] == pytest.approx(ddp_losses, **fsdp.TOLERANCE)


def test_a_checkpoint_saved_by_two_ranks_loads_into_one(
    group: LocalGroup, ids: torch.Tensor, tmp_path
) -> None:
    folder = tmp_path / "sharded"
    saved = group.run(fsdp.save_sharded, ids, RUN, str(folder))[0]
    assert {"__0_0.distcp", "__1_0.distcp"} <= set(saved["files"])  # one file of shards per rank
    model = fsdp.load_resharded(str(folder), RUN)  # this process: no group at all
    for name, tensor in saved["full"].items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_tensor_parallel_gpt_equals_the_single_device_gpt(group: LocalGroup) -> None:
    for result in group.run(tensor_parallel.compare_with_single_device, TINY):
        assert result["max_difference"]["logits"] < 1e-5 and result["max_difference"]["gradients"] < 1e-5
        assert result["all_reduces_per_block"] == 4  # 2 forward (row-wise outputs), 2 backward
        assert result["bytes_per_step"] == 4 * TINY.n_layer * 2 * TINY.block_size * TINY.n_embd * 4
        assert result["local_c_fc_shape"] == (4 * TINY.n_embd // 2, TINY.n_embd)


def test_head_grouping_is_the_same_function_and_a_fused_split_would_mix_heads() -> None:
    torch.manual_seed(0)
    plain = GPT(TINY)
    grouped = GPT(TINY)
    grouped.load_state_dict(plain.state_dict())
    tensor_parallel.group_heads(grouped, 2)
    x = torch.randint(TINY.vocab_size, (2, TINY.block_size))
    torch.testing.assert_close(grouped(x), plain(x))
    wrong = tensor_parallel.fused_split_goes_wrong(TINY)
    assert wrong[0]["v"] == 0 and wrong[1]["q"] == 0  # rank 0: no values; rank 1: no queries


@pytest.mark.parametrize("schedule", pipeline.SCHEDULES)
def test_pipeline_follows_the_single_device_gpt(group: LocalGroup, ids: torch.Tensor, schedule: str) -> None:
    single = gpt_data_parallel.train_gpt_single(ids, RUN)
    for losses in group.run(pipeline.train_pipeline, ids, RUN, schedule, 4):
        assert losses == pytest.approx(single, rel=1e-5)


def test_the_bubble_shrinks_with_more_micro_batches_and_1f1b_keeps_fewer_in_flight(group, ids) -> None:
    few, many = (group.run(pipeline.measure_schedule, ids, RUN, "gpipe", m, 0.02) for m in (1, 8))
    assert max(r["idle"] for r in many) < min(r["idle"] for r in few)
    assert many[0]["theory"] == pytest.approx(1 / 9) and few[0]["theory"] == pytest.approx(1 / 2)
    assert many[0]["peak_in_flight"] == 8
    one_f_one_b = group.run(pipeline.measure_schedule, ids, RUN, "1f1b", 8, 0.02)
    assert max(r["peak_in_flight"] for r in one_f_one_b) <= 2  # ≤ p micro-batches' activations


def test_micro_batches_that_do_not_divide_the_batch_are_a_one_line_error() -> None:
    from e2edl.distributed.pipeline import _schedule

    with pytest.raises(ValueError, match="3 micro-batches do not divide the batch of 16"):
        _schedule("gpipe", None, 3, 16)
