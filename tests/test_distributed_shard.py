"""Each rank's slice of every global batch (no processes needed: ranks are just numbers here)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from e2edl.data.rank_shard import BatchSlices, RankShard, is_sharded, rank_slice, shard_loader
from e2edl.data.tensor_loader import TensorLoader
from e2edl.train.batches import RandomBatches


def loader(n: int = 20, batch_size: int = 8, **options) -> TensorLoader:
    x = torch.arange(n)
    return TensorLoader(x, x * 10, batch_size=batch_size, shuffle=True, seed=3, **options)


@pytest.mark.parametrize("world", [2, 3])
def test_the_ranks_slices_put_together_are_the_global_batches(world: int) -> None:
    whole = loader(24, 6)
    shards = [shard_loader(loader(24, 6), rank, world) for rank in range(world)]
    assert all(isinstance(s, RankShard) and len(s) == len(whole) for s in shards)
    for epoch in (0, 1):
        whole.set_epoch(epoch)
        for shard in shards:
            shard.set_epoch(epoch)  # passed on to the loader: the same order on every rank
        for global_batch, *parts in zip(whole, *shards, strict=True):
            assert torch.equal(torch.cat([p[0] for p in parts]), global_batch[0])
            assert torch.equal(torch.cat([p[1] for p in parts]), global_batch[1])


def test_every_rank_gets_the_same_number_of_batches_and_a_tiny_last_batch_is_dropped() -> None:
    # 20 samples, global batch 8: batches of 8, 8, 4. With 3 ranks the 4 split 2/1/1;
    # with 5 ranks the last batch (4 < 5 samples) would leave a rank empty-handed: dropped.
    three = [list(shard_loader(loader(), r, 3)) for r in range(3)]
    assert [len(batches) for batches in three] == [3, 3, 3]
    assert [len(b[-1][0]) for b in three] == [2, 1, 1]
    five = [list(shard_loader(loader(), r, 5)) for r in range(5)]
    assert [len(batches) for batches in five] == [2] * 5
    assert len(shard_loader(loader(), 0, 5)) == 2


def test_a_shard_checkpoints_as_its_loader() -> None:
    shard = shard_loader(loader(), 1, 2)
    shard.set_epoch(4)
    assert shard.state_dict() == {"seed": 3, "epoch": 4}
    shard.load_state_dict({"seed": 3, "epoch": 1})
    assert shard.loader.epoch == 1


def test_the_transform_runs_on_the_ranks_slice_only() -> None:
    seen = []
    shard = shard_loader(loader(transform=lambda batch: seen.append(len(batch[0])) or batch), 0, 2)
    list(shard)
    assert seen == [4, 4, 2]


def test_a_data_loader_gets_a_distributed_sampler_and_the_per_rank_batch() -> None:
    data = TensorDataset(torch.arange(16.0))
    sharded = shard_loader(DataLoader(data, batch_size=8, shuffle=True), 1, 2)
    assert isinstance(sharded.sampler, DistributedSampler) and sharded.batch_size == 4
    assert sharded.sampler.rank == 1 and sharded.sampler.shuffle and is_sharded(sharded)
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        shard_loader(DataLoader(data, batch_size=7), 0, 2)


def test_an_endless_sampler_is_sliced_batch_by_batch() -> None:
    ids = torch.arange(1000)
    whole = RandomBatches(ids, block_size=8, batch_size=6, seed=1)
    shards = [shard_loader(RandomBatches(ids, block_size=8, batch_size=6, seed=1), r, 2) for r in range(2)]
    assert all(isinstance(s, BatchSlices) for s in shards)
    streams = [iter(s) for s in shards]
    for _ in range(3):
        x, y = next(whole)
        (x0, y0), (x1, y1) = (next(stream) for stream in streams)
        assert torch.equal(torch.cat([x0, x1]), x) and torch.equal(torch.cat([y0, y1]), y)
    assert shards[0].state_dict()["drawn"] == 3  # its sampler's state, for the checkpoint
    assert not hasattr(shards[0], "__len__")  # endless: fit must not take its length
    batches = [(torch.arange(4.0), torch.zeros(4))] * 3  # a finite iterable keeps its length
    assert len(shard_loader(batches, 0, 2)) == 3


def test_rank_slice_and_bad_ranks() -> None:
    batch = {"x": torch.arange(5), "y": (torch.arange(5), torch.zeros(5))}
    part = rank_slice(batch, 1, 2)
    assert torch.equal(part["x"], torch.tensor([3, 4])) and len(part["y"][1]) == 2
    with pytest.raises(ValueError, match="rank must be in"):
        shard_loader(loader(), 2, 2)
    with pytest.raises(ValueError, match="batch_size at least the number of processes"):
        shard_loader(loader(batch_size=2), 0, 3)
    assert shard_loader(None, 0, 2) is None
    plain = loader()
    assert shard_loader(plain, 0, 1) is plain and not is_sharded(plain)
