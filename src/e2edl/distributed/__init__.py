"""Distributed training shown piece by piece, for the data-parallel and model-parallel lessons.

The pieces ``fit`` itself uses live on the ground floor (``e2edl.train.distributed``,
``e2edl.train.parallel_model``, ``e2edl.data.rank_shard``). This package holds what the lessons
run in worker processes: a pool of local processes that a notebook can start
(:mod:`~e2edl.distributed.local_group`; spawned processes cannot run functions defined in a
notebook, so the workers' functions live here), the collectives, a ring all-reduce written by
hand and its cost model, data parallelism three ways, FSDP2, tensor and pipeline parallelism.
It imports the ground floor only.
"""
