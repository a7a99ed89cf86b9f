"""How fast is attention written three ways, and is our ViT as fast as timm's?

Two tables, medians over repeats (after warm-up):

1. forward + backward of one multi-head attention layer — a Python loop over heads
   (``LoopMultiHeadAttention``), one fused qkv projection with explicit matmuls
   (``Attention(use_sdpa=False)``), and the same with ``F.scaled_dot_product_attention`` — over a
   few sequence lengths;
2. one AdamW training step of the vit lesson's ViTs (the MNIST and the Dogs vs Cats configurations,
   the latter with the plain patch stem, which is the one timm has),
   ours against timm's ``VisionTransformer`` built from ``ViTConfig.timm_kwargs()``. Ratio =
   timm's time / ours (≥ 1 means ours is at least as fast; the target is ≥ 0.95).

Usage: ``python benchmarks/vit_attention.py [--threads 2] [--repeats 15] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer

from e2edl.nn.attention import Attention, LoopMultiHeadAttention
from e2edl.nn.vit import ViT
from e2edl.recipes.vit import MNIST_VIT, PETS_VIT


def median_seconds(step, repeats: int, device: torch.device, warmup: int = 3) -> float:
    times = []
    for i in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def attention_table(device: torch.device, repeats: int, batch: int, dim: int, heads: int) -> None:
    print(f"\nforward + backward of one attention layer: batch {batch}, width {dim}, {heads} heads (ms)")
    print(f"{'T':>5} {'loop of heads':>14} {'fused qkv':>10} {'fused + SDPA':>13} {'loop / SDPA':>12}")
    torch.manual_seed(0)
    loop = LoopMultiHeadAttention(dim, heads).to(device)
    modules = [
        loop,
        Attention.from_loop(loop, use_sdpa=False).to(device),
        Attention.from_loop(loop).to(device),
    ]
    for T in (17, 65, 257, 513):
        x = torch.randn(batch, T, dim, device=device, requires_grad=True)

        def step(module, x=x):
            return lambda: module(x).sum().backward()

        ms = [1000 * median_seconds(step(m), repeats, device) for m in modules]
        print(f"{T:>5} {ms[0]:>14.2f} {ms[1]:>10.2f} {ms[2]:>13.2f} {ms[0] / ms[2]:>11.1f}×")


# timm's ViT has only the plain patch stem, so the pets model is compared with that stem.
PETS_VIT_TIMM = dataclasses.replace(PETS_VIT, stem="patch")


def training_step_table(device: torch.device, repeats: int) -> None:
    print("\none AdamW training step (forward, backward, update), ms")
    print(f"{'configuration':<34} {'ours':>8} {'timm':>8} {'timm / ours':>12}")
    for name, cfg, batch in (
        ("MNIST", MNIST_VIT, 256),
        ("pets", PETS_VIT_TIMM, 128),
    ):
        name = f"{name} {cfg.image_size}px/{cfg.patch_size}, D{cfg.dim}, depth {cfg.depth}, batch {batch}"
        torch.manual_seed(0)
        timm_model = VisionTransformer(**cfg.timm_kwargs()).to(device)
        ours = ViT(cfg).to(device)
        ours.load_state_dict(timm_model.state_dict())
        x = torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size, device=device)
        y = torch.randint(0, cfg.num_classes, (batch,), device=device)

        def step(model, optimizer, x=x, y=y):
            def run():
                optimizer.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()
                optimizer.step()

            return run

        # Alternate the two models so that a change in machine load hits both alike.
        steps = {
            label: step(m, torch.optim.AdamW(m.parameters(), 1e-3))
            for label, m in (("ours", ours), ("timm", timm_model))
        }
        samples = {label: [] for label in steps}
        for _ in range(3):
            for label, one_step in steps.items():
                samples[label].append(median_seconds(one_step, max(1, repeats // 3), device, warmup=1))
        times = {label: 1000 * statistics.median(v) for label, v in samples.items()}
        print(
            f"{name:<34} {times['ours']:>8.1f} {times['timm']:>8.1f} {times['timm'] / times['ours']:>11.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {device}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    attention_table(device, args.repeats, batch=16, dim=128, heads=4)
    training_step_table(device, args.repeats)


if __name__ == "__main__":
    main()
