"""Reference solutions to the transfer-learning lesson's exercises, and the typical mistakes their
checks catch."""

from torch import nn


class HeadOnlyClassifier(nn.Module):
    """A frozen backbone (images → (B, dim)) and a new trainable linear head (dim → num_classes)."""

    def __init__(self, backbone, dim, num_classes):
        super().__init__()
        self.backbone = backbone.requires_grad_(False).eval()
        self.head = nn.Linear(dim, num_classes)

    def train(self, mode=True):
        super().train(mode)
        self.backbone.eval()  # frozen: BatchNorm keeps normalising with, and keeping, its running statistics
        return self

    def forward(self, images):
        return self.head(self.backbone(images))  # (B, num_classes)


def count_trainable(model):
    """How many numbers the optimiser can change: elements of the parameters with requires_grad."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def cat_or_dog(probabilities):
    """(N, 1000) ImageNet probabilities → (N,) int64: 1 where the dogs' total beats the cats'."""
    dogs = probabilities[:, 151:269].sum(1)  # breeds 151–268
    cats = probabilities[:, 281:286].sum(1)  # domestic cats 281–285
    return (dogs > cats).long()


# ------------------------------------------------------------------------------ typical mistakes


class FrozenByRequiresGradOnly(nn.Module):
    def __init__(self, backbone, dim, num_classes):
        super().__init__()
        self.backbone = backbone.requires_grad_(False)  # still in train mode: BatchNorm keeps updating
        self.head = nn.Linear(dim, num_classes)

    def forward(self, images):
        return self.head(self.backbone(images))


class FrozenByEvalInInit(nn.Module):
    def __init__(self, backbone, dim, num_classes):
        super().__init__()
        self.backbone = backbone.requires_grad_(False).eval()  # undone by the first model.train()
        self.head = nn.Linear(dim, num_classes)

    def forward(self, images):
        return self.head(self.backbone(images))


class EvalModeButTrainable(HeadOnlyClassifier):
    def __init__(self, backbone, dim, num_classes):
        super().__init__(backbone, dim, num_classes)
        self.backbone.requires_grad_(True)


def count_all_parameters(model):
    return sum(p.numel() for p in model.parameters())


def count_tensors(model):
    return len([p for p in model.parameters() if p.requires_grad])


def count_state_dict(model):
    return sum(v.numel() for v in model.state_dict().values())


def cat_or_dog_off_by_one(probabilities):
    return (probabilities[:, 151:268].sum(1) > probabilities[:, 281:285].sum(1)).long()


def cat_or_dog_with_a_cougar(probabilities):
    return (probabilities[:, 151:269].sum(1) > probabilities[:, 281:287].sum(1)).long()


def cat_or_dog_top1(probabilities):
    top = probabilities.argmax(1)
    return ((top >= 151) & (top <= 268)).long()


MISTAKES = {
    "frozen-backbone": [
        (FrozenByRequiresGradOnly, "running_mean"),
        (FrozenByEvalInInit, "running_mean"),
        (EvalModeButTrainable, "requires_grad_(False)"),
    ],
    "count-trainable": [
        (count_all_parameters, "requires_grad"),
        (count_tensors, "numel"),
        (count_state_dict, "buffers"),
    ],
    "cat-or-dog": [
        (cat_or_dog_off_by_one, "inclusive"),
        (cat_or_dog_with_a_cougar, "cougar"),
        (cat_or_dog_top1, "summed"),
    ],
}
