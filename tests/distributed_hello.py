"""Who am I in the group? Each worker writes what its launcher told it, and one all-reduce.

    torchrun ... tests/distributed_hello.py OUT_DIR

``OUT_DIR/rank{R}.json`` holds the environment variables torchrun sets (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``GROUP_RANK`` — the node's rank —, ``OMP_NUM_THREADS``), the
intra-op threads, and the all-reduced sum of the ranks (0 + 1 + … = N(N-1)/2 when all met).
"""

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from e2edl.train.distributed import init_from_env, rank, world_size


def main() -> None:
    out = Path(sys.argv[1])
    init_from_env()
    total = torch.tensor([float(rank())])
    dist.all_reduce(total)
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "OMP_NUM_THREADS")
    report = {name: os.environ.get(name) for name in names}
    report.update(
        {"rank": rank(), "world_size": world_size(), "sum": total.item(), "threads": torch.get_num_threads()}
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{rank()}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
