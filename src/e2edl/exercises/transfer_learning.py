"""The transfer-learning lesson's exercises: a backbone frozen so that it stays frozen, counting
what training changes, and the zero-shot cat-or-dog answer from ImageNet's classes."""

from __future__ import annotations

import torch
from torch import nn

from e2edl.exercises.checking import Hint, call, expect_equal, expect_tensor
from e2edl.exercises.exercise import Exercise

DOGS, CATS = slice(151, 269), slice(281, 286)  # ImageNet's dog breeds 151–268, domestic cats 281–285


def _small_backbone(seed: int = 0) -> nn.Module:
    """Images (B, 3, H, W) → (B, 4): a convolution, a BatchNorm with non-trivial running
    statistics, and global average pooling — a stand-in for a pretrained backbone."""
    torch.manual_seed(seed)
    backbone = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )
    with torch.no_grad():
        backbone[1].running_mean.uniform_(-0.5, 0.5)
        backbone[1].running_var.uniform_(0.5, 2.0)
    return backbone


def check_frozen_backbone(cls) -> None:
    backbone = _small_backbone()
    reference = _small_backbone().eval()  # the same weights and statistics, untouched
    model = call(cls, backbone, 4, 2, what="HeadOnlyClassifier(backbone, 4, 2)")
    if not isinstance(model, nn.Module):
        raise Hint(f"HeadOnlyClassifier(...) should build an nn.Module, but it built {type(model).__name__}.")
    if not any(module is backbone for module in model.modules()):
        raise Hint("keep the backbone you are given as a submodule (e.g. self.backbone = backbone).")
    x = torch.randn(8, 3, 10, 10, generator=torch.Generator().manual_seed(1))
    bn, original = backbone[1], reference[1]

    def statistics_moved() -> bool:
        return not (
            torch.equal(bn.running_mean, original.running_mean)
            and torch.equal(bn.running_var, original.running_var)
        )

    logits = call(model, x, what="your model's forward")
    if statistics_moved():
        raise Hint("BatchNorm's running_mean and running_var moved in the first forward after construction: a new "
                   "module starts in train mode, so put the backbone in eval mode in __init__ as well.")  # fmt: skip
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (8, 2):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise Hint(f"forward should return logits of shape (B, num_classes) = (8, 2), got {shape}.")
    if any(p.requires_grad for p in backbone.parameters()):
        raise Hint(
            "the backbone's parameters still require gradients: call requires_grad_(False) on the backbone."
        )
    trainable = [p for p in model.parameters() if p.requires_grad]
    if sum(p.numel() for p in trainable) != 4 * 2 + 2:
        raise Hint(f"the trainable parameters should be the head's 4·2 weights and 2 biases, "
                   f"found {sum(p.numel() for p in trainable)} numbers.")  # fmt: skip

    model.train()  # what fit does at every epoch
    if not model.training:
        raise Hint("after model.train() your model should report training=True (call super().train(mode)).")
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    loss = nn.functional.cross_entropy(call(model, x, what="your model's forward"), torch.tensor([0, 1] * 4))
    loss.backward()
    optimizer.step()
    if statistics_moved():
        raise Hint("BatchNorm's running_mean and running_var moved during training: model.train() put the "
                   "backbone back into train mode. Override train(mode) to call super().train(mode), then "
                   "self.backbone.eval().")  # fmt: skip
    if any(not torch.equal(a, b) for a, b in zip(backbone.parameters(), reference.parameters())):
        raise Hint(
            "the backbone's weights changed in a training step: freeze them with requires_grad_(False)."
        )
    with torch.no_grad():
        features = reference(x)
        head = [m for m in model.modules() if isinstance(m, nn.Linear)]
        expected = head[0](features) if len(head) == 1 else None
    if expected is not None:
        expect_tensor(call(model, x, what="your model's forward").detach(), expected,
                      "the logits in train mode (the backbone must normalise with its running statistics)",
                      atol=1e-5)  # fmt: skip


def check_count_trainable(fn) -> None:
    torch.manual_seed(0)
    backbone = _small_backbone()
    head = nn.Linear(4, 3)
    model = nn.Sequential(backbone, head)
    everything = sum(p.numel() for p in model.parameters())
    got = call(fn, model, what="count_trainable(model)")
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = int(got.item())
    if got == len(list(model.parameters())):
        raise Hint("that is the number of parameter tensors; count the numbers in them: p.numel().")
    if got == sum(v.numel() for v in model.state_dict().values()):
        raise Hint("state_dict() also holds buffers (BatchNorm's running statistics), which training does not "
                   "update through the optimiser: count model.parameters().")  # fmt: skip
    expect_equal(got, everything, "count_trainable of a model with nothing frozen")
    backbone.requires_grad_(False)
    got = call(fn, model, what="count_trainable(model)")
    if got == everything:
        raise Hint(
            "a frozen parameter (requires_grad=False) is not trained: count only those with requires_grad."
        )
    expect_equal(
        got, 4 * 3 + 3, "count_trainable with the backbone frozen (the head's 4·3 weights + 3 biases)"
    )
    tied = nn.Sequential(head, nn.ReLU(), head)  # the same layer twice: one set of parameters
    expect_equal(call(fn, tied, what="count_trainable(model)"), 4 * 3 + 3,
                 "count_trainable of a model using one layer twice")  # fmt: skip


def check_cat_or_dog(fn) -> None:
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(40, 1000, generator=g).mul(3)
    scores[:, CATS] += 3.6  # five cat classes against 118 dog breeds: make the two totals comparable
    probabilities = scores.softmax(1)  # (N, 1000)
    edge = torch.zeros(4, 1000)
    edge[0, 268], edge[0, 150] = 0.6, 0.4  # the last dog breed vs a non-dog: dog
    edge[1, 285], edge[1, 268] = 0.55, 0.45  # the last cat class beats a dog: cat
    edge[2, 151], edge[2, 286] = 0.3, 0.7  # 286 is a cougar, not a house cat: dog
    edge[3, 281], edge[3, 200], edge[3, 201] = 0.4, 0.3, 0.3  # top-1 is a cat, the dogs' total wins
    probabilities = torch.cat([probabilities, edge])
    want = (probabilities[:, DOGS].sum(1) > probabilities[:, CATS].sum(1)).long()
    got = call(fn, probabilities, what="cat_or_dog(probabilities)")
    if isinstance(got, torch.Tensor) and got.shape == want.shape and not torch.equal(got.long(), want):
        wrong = torch.nonzero(got.long() != want).flatten().tolist()
        if 40 in wrong or 41 in wrong:
            raise Hint("the last classes of each group are missing: dogs are 151–268 *inclusive*, "
                       "so the slice is [:, 151:269] (and cats [:, 281:286]).")  # fmt: skip
        if 43 in wrong:
            raise Hint("compare the *summed* probability of each group, not the single most likely class.")
        if 42 in wrong:
            raise Hint(
                "class 286 is a cougar, not a domestic cat: the cats are 281–285, the slice [:, 281:286]."
            )
    expect_tensor(got, want, "the cat (0) / dog (1) answers")


EXERCISES = [
    Exercise("frozen-backbone", "HeadOnlyClassifier",
             "a frozen backbone whose BatchNorm statistics stay put, with a trainable linear head", check_frozen_backbone),
    Exercise("count-trainable", "count_trainable", "count the numbers training can change", check_count_trainable),
    Exercise("cat-or-dog", "cat_or_dog", "zero-shot Dogs vs Cats from ImageNet's class probabilities", check_cat_or_dog),
]  # fmt: skip
