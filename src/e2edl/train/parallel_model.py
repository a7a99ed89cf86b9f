"""A model made data-parallel: DDP (a full copy per rank) or FSDP2 (each rank holds a shard).

**DDP** (``DistributedDataParallel``): every rank keeps all parameters, gradients and optimizer
state; during ``backward`` the gradients are averaged over the ranks in buckets (an all-reduce per
bucket, overlapped with the rest of the backward pass), so every rank takes the same step.

**FSDP2** (``torch.distributed.fsdp.fully_shard``): every rank keeps ``1/N`` of each parameter,
its gradient and its optimizer state. Before a layer runs, its full weights are gathered
(all-gather) and freed after; its gradients are summed and scattered back to the shards
(reduce-scatter). Memory per rank falls towards ``1/N`` of DDP's, for more communication.

Both keep one meaning for a checkpoint: :func:`model_state_dict` returns the **full** state dict
of the unwrapped model with its own parameter names (no ``module.`` prefix, no shards), loadable
by a single process, and :func:`load_model_state` puts one back into a wrapped model.

``fully_shard`` replaces the module's parameters with sharded ones (new ``Parameter`` objects),
so an optimizer built before it would update tensors no one uses: :func:`wrap_model` re-points
the optimizer's parameter groups at the sharded parameters (matched by name), which is right as
long as the optimizer has not stepped yet.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from e2edl.train.distributed import is_distributed

STRATEGIES = ("ddp", "fsdp")


def wrap_model(
    model: nn.Module,
    strategy: str = "ddp",
    device: torch.device | str = "cpu",
    optimizer: torch.optim.Optimizer | None = None,
    **options,
) -> nn.Module:
    """``model`` on ``device``, wrapped for data-parallel training when several ranks train.

    ``"ddp"``: a ``DistributedDataParallel`` around it (``options`` go to DDP, e.g.
    ``bucket_cap_mb``). ``"fsdp"``: ``fully_shard`` on each block (each item of every
    ``nn.ModuleList``) and on the whole, in place, after copying rank 0's weights to every rank;
    ``optimizer`` is re-pointed at the sharded parameters. Alone (world size 1): the model on the
    device, untouched. A model already wrapped is returned as it is.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    device = torch.device(device)
    if is_wrapped(model):
        return model
    model.to(device)
    if not is_distributed():
        return model
    if strategy == "ddp":
        device_ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, **options)
    return _fully_shard(model, device, optimizer, **options)


def _fully_shard(model: nn.Module, device: torch.device, optimizer, **options) -> nn.Module:
    from torch.distributed.fsdp import fully_shard

    names = {id(p): name for name, p in model.named_parameters()}
    with torch.no_grad():  # FSDP2 shards what each rank has: start every rank from rank 0's weights
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor, src=0)
    mesh = None
    if device.type == "cpu":
        from torch.distributed.device_mesh import init_device_mesh

        mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    blocks = [block for module in model.modules() if isinstance(module, nn.ModuleList) for block in module]
    for block in blocks:
        fully_shard(block, mesh=mesh, **options)
    fully_shard(model, mesh=mesh, **options)
    if optimizer is not None:
        _repoint_optimizer(optimizer, names, dict(model.named_parameters()))
    return model


def _repoint_optimizer(optimizer: torch.optim.Optimizer, names: dict, sharded: dict) -> None:
    """Replace each parameter in the optimizer's groups by the sharded one of the same name."""
    if optimizer.state:
        raise ValueError(
            "the optimizer has already stepped; build it before fit shards the model, without training"
        )
    for group in optimizer.param_groups:
        try:
            group["params"] = [sharded[names[id(p)]] for p in group["params"]]
        except KeyError:
            raise ValueError("the optimizer holds a parameter that is not the model's") from None


def is_wrapped(model: nn.Module) -> bool:
    """Whether ``model`` is DDP-wrapped or sharded by ``fully_shard``."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        return True
    return _is_fsdp(model)


def _is_fsdp(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (an FSDP2 model is its own module)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _full_options(**extra):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True, **extra)


def model_state_dict(model: nn.Module) -> dict:
    """The full state dict of the model inside any wrapper (FSDP2: gathered from every rank, so
    every rank must call it; the full tensors land on rank 0, on the CPU)."""
    if _is_fsdp(model):
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        return get_model_state_dict(model, options=_full_options())
    return unwrap(model).state_dict()


def load_model_state(model: nn.Module, state: dict) -> None:
    """Load a full state dict (as :func:`model_state_dict` returns) into a wrapped or plain model
    (FSDP2: every rank passes the full dict and keeps its shard)."""
    if _is_fsdp(model):
        from torch.distributed.checkpoint.state_dict import set_model_state_dict

        set_model_state_dict(model, state, options=_full_options())
    else:
        unwrap(model).load_state_dict(state)


def optimizer_state_dict(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The optimizer's state: as ``optimizer.state_dict()`` (DDP: every rank holds the same), or
    for FSDP2 the full state keyed by parameter name, gathered from the shards (every rank calls)."""
    if _is_fsdp(model):
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        return get_optimizer_state_dict(model, optimizer, options=_full_options())
    return optimizer.state_dict()


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Put an :func:`optimizer_state_dict` back (FSDP2: each rank keeps its shard of it)."""
    if _is_fsdp(model):
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

        set_optimizer_state_dict(model, optimizer, state, options=_full_options())
    else:
        optimizer.load_state_dict(state)
