"""Collectives in a notebook's worker group, and the ring all-reduce written by hand.

Each test's group uses a free port, fails within its timeout instead of hanging, and leaves no
process and no listening port behind.
"""

from __future__ import annotations

import pytest
import torch

from distributed_support import TOKEN_VAR, assert_no_leftovers, new_token
from e2edl.distributed import collectives, ring
from e2edl.distributed.cost_model import LatencyBandwidth
from e2edl.distributed.local_group import GroupFailed, LocalGroup
from e2edl.distributed.ports import free_port, is_listening

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def token():
    return new_token()


@pytest.fixture
def own_token(monkeypatch):
    """A token of this test alone (the module's group carries another): its workers inherit it."""
    token = new_token()
    monkeypatch.setenv(TOKEN_VAR, token)
    return token


@pytest.fixture(scope="module")
def group(token):
    """Two workers for the whole module (each start costs seconds: a fresh PyTorch import)."""
    mp = pytest.MonkeyPatch()
    mp.setenv(TOKEN_VAR, token)  # the spawned workers inherit it: leftovers() finds them
    group = LocalGroup(2, timeout=60).start()
    yield group
    port = group.port
    group.close()
    mp.undo()
    assert_no_leftovers(token)
    assert not is_listening(port), f"port {port} still bound after the group closed"


def test_each_collective_does_what_its_name_says(group: LocalGroup) -> None:
    r0, r1 = group.run(collectives.broadcast_example)
    assert torch.equal(r1["after"], r0["before"]) and torch.equal(r0["after"], r0["before"])

    r0, r1 = group.run(collectives.all_reduce_example)
    total = r0["before"] + r1["before"]
    assert torch.equal(r0["after"], total) and torch.equal(r1["after"], total)

    r0, r1 = group.run(collectives.all_gather_example)
    both = torch.cat([r0["before"], r1["before"]])
    assert torch.equal(r0["after"], both) and torch.equal(r1["after"], both)

    r0, r1 = group.run(collectives.reduce_scatter_example)
    total = r0["before"] + r1["before"]
    assert torch.equal(torch.cat([r0["after"], r1["after"]]), total)


def test_ring_all_reduce_equals_dist_all_reduce_bitwise_on_two_ranks(group: LocalGroup) -> None:
    for numel in (1, 7, 1000):  # fewer values than ranks, an uneven split, an even one
        for result in group.run(ring.compare_with_all_reduce, numel):
            assert torch.equal(result["ring"], result["all_reduce"]), numel


def test_ring_all_reduce_on_three_ranks_equals_all_reduce(own_token) -> None:
    """Three ranks: the sum is added in another order, equal to rounding (1e-6 relative)."""
    with LocalGroup(3, timeout=60) as trio:
        results = trio.run(ring.compare_with_all_reduce, 1001)
    for result in results:
        torch.testing.assert_close(result["ring"], result["all_reduce"], rtol=1e-6, atol=1e-6)
    assert torch.equal(results[0]["ring"], results[2]["ring"])  # every rank holds the same sum
    assert_no_leftovers(own_token)


def test_timings_fit_the_latency_bandwidth_model(group: LocalGroup) -> None:
    sizes = [2**k for k in range(8, 21, 4)]  # 256 B … 1 MiB
    seconds = group.run(ring.time_all_reduce, sizes, 3, "ring")[0]
    model = LatencyBandwidth.fit_ring(sizes, seconds, world_size=2)
    assert model.latency > 0 and model.bandwidth > 0
    assert all(s > 0 for s in seconds)


def test_fit_ring_recovers_known_alpha_beta() -> None:
    truth = LatencyBandwidth(latency=50e-6, bandwidth=2e9)
    sizes = [2.0**k for k in range(6, 26)]
    seconds = [truth.ring_all_reduce_seconds(b, 4) for b in sizes]
    fitted = LatencyBandwidth.fit_ring(sizes, seconds, world_size=4)
    assert fitted.latency == pytest.approx(truth.latency, rel=1e-6)
    assert fitted.bandwidth == pytest.approx(truth.bandwidth, rel=1e-6)


def test_a_failing_rank_raises_with_its_traceback_and_frees_everything(own_token) -> None:
    group = LocalGroup(2, timeout=60).start()
    port = group.port
    with pytest.raises(GroupFailed, match=r"(?s)reduce_scatter_example failed on rank .*do not split"):
        group.run(collectives.reduce_scatter_example, 3)
    assert not group.running
    assert_no_leftovers(own_token)
    assert not is_listening(port)


def test_a_hung_collective_fails_within_the_timeout(own_token) -> None:
    """Rank 0 waits in an all-reduce that rank 1 never joins: GroupFailed after the timeout."""
    group = LocalGroup(2, timeout=60).start()
    with pytest.raises(GroupFailed, match=r"rank\(s\) \[0\] did not finish within 3 s"):
        group.run(collectives.hang_on_rank_zero, timeout=3)
    assert_no_leftovers(own_token)


def test_free_port_is_free() -> None:
    assert not is_listening(free_port())
