"""The course's GPT (``e2edl.nn.gpt``) as a Hugging Face model, and a tokenizer for its characters.

What it takes for our own network to be a citizen of the Hugging Face ecosystem — ``save_pretrained`` /
``from_pretrained`` (``config.json`` + ``model.safetensors``), the Auto classes, ``generate()``,
``pipeline("text-generation")``:

1. ``GPTHFConfig``, a ``PretrainedConfig`` with its own ``model_type`` holding every field of
   ``GPTConfig``: ``config.json`` is how a saved model is rebuilt without our code's call site;
2. ``GPTForCausalLM``, a ``PreTrainedModel`` + ``GenerationMixin`` whose ``forward(input_ids,
   labels=None)`` returns a ``CausalLMOutput`` (the shifted next-token loss when labels are given,
   as every causal LM on the hub does). It *holds* our ``GPT`` unchanged (``model.gpt``), so the
   parameter names are GPT-2's behind a ``gpt.`` prefix and the tied output matrix is declared in
   ``_tied_weights_keys``: safetensors stores it once;
3. ``register_auto_classes()`` (run at import): ``AutoConfig`` / ``AutoModelForCausalLM`` map
   ``model_type`` back to these classes when they read a saved ``config.json``;
4. ``char_tokenizer(vocabulary)``: a ``PreTrainedTokenizerFast`` over the character vocabulary of
   the gpt lesson (every character one token, ids as ``Vocabulary.of_characters`` numbers them),
   so that ``AutoTokenizer`` and ``pipeline`` can turn text into the model's ids and back.

``generate()`` runs without a KV cache here (each step reads the last ``block_size`` tokens, as
``e2edl.nn.generate.generate(..., use_cache=False)`` does); our GPT has no padding mask, so a batch of
prompts must have one length (a mask with zeros is a one-line error). Needs ``transformers``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    GenerationConfig,
    GenerationMixin,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.modeling_outputs import CausalLMOutput

from e2edl.data.text import Vocabulary
from e2edl.nn.gpt import GPT, GPTConfig

MODEL_TYPE = "e2edl-gpt"


class GPTHFConfig(PretrainedConfig):
    """``GPTConfig``'s fields as a ``PretrainedConfig`` (what ``config.json`` stores)."""

    model_type = MODEL_TYPE

    def __init__(
        self,
        vocab_size: int = 65,
        block_size: int = 64,
        n_layer: int = 4,
        n_head: int = 4,
        n_embd: int = 128,
        dropout: float = 0.0,
        bias: bool = True,
        activation: str = "gelu_tanh",
        tie_word_embeddings: bool = True,
        **kwargs,
    ) -> None:
        self.vocab_size, self.block_size = vocab_size, block_size
        self.n_layer, self.n_head, self.n_embd = n_layer, n_head, n_embd
        self.dropout, self.bias, self.activation = dropout, bias, activation
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)

    def to_gpt_config(self) -> GPTConfig:
        return GPTConfig(
            vocab_size=self.vocab_size, block_size=self.block_size, n_layer=self.n_layer,
            n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout, bias=self.bias,
            activation=self.activation,
        )  # fmt: skip

    @classmethod
    def from_gpt_config(cls, cfg: GPTConfig, **kwargs) -> GPTHFConfig:
        return cls(
            vocab_size=cfg.vocab_size, block_size=cfg.block_size, n_layer=cfg.n_layer, n_head=cfg.n_head,
            n_embd=cfg.n_embd, dropout=cfg.dropout, bias=cfg.bias, activation=cfg.activation, **kwargs,
        )  # fmt: skip


class GPTForCausalLM(PreTrainedModel, GenerationMixin):
    """Our ``GPT`` behind Hugging Face's model interface: ids (B, T) → ``CausalLMOutput``."""

    config_class = GPTHFConfig
    base_model_prefix = "gpt"
    main_input_name = "input_ids"
    _tied_weights_keys = {"gpt.lm_head.weight": "gpt.transformer.wte.weight"}  # stored once

    def __init__(self, config: GPTHFConfig) -> None:
        super().__init__(config)
        self.gpt = GPT(config.to_gpt_config())  # initialised by GPT itself (GPT-2's scheme)
        self.post_init()
        self.generation_config = GenerationConfig(use_cache=False)

    @classmethod
    def from_gpt(cls, gpt: GPT, **config_kwargs) -> GPTForCausalLM:
        """A wrapper holding a copy of ``gpt``'s weights (for a trained model of the gpt lesson)."""
        model = cls(GPTHFConfig.from_gpt_config(gpt.cfg, **config_kwargs))
        model.gpt.load_state_dict(gpt.state_dict())
        return model.eval()

    def _init_weights(self, module) -> None:
        """Nothing to do: ``GPT`` initialises itself, and ``from_pretrained`` loads every weight."""

    def get_input_embeddings(self):
        """The token embedding."""
        return self.gpt.transformer.wte

    def set_input_embeddings(self, embeddings) -> None:
        """Replace the token embedding (what ``resize_token_embeddings`` does)."""
        self.gpt.transformer.wte = embeddings

    def get_output_embeddings(self):
        """The output projection, tied to the token embedding."""
        return self.gpt.lm_head

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> CausalLMOutput:
        """``input_ids`` (B, T) → logits (B, T, vocab); with ``labels`` (B, T) (usually the input
        ids themselves) also the loss of predicting ``labels[:, t+1]`` from position t, ignoring -100."""
        if attention_mask is not None and not bool(attention_mask.all()):
            raise ValueError(
                "this GPT has no padding mask: give prompts of one length (or one prompt at a time)"
            )
        logits = self.gpt(input_ids)  # (B, T, vocab)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100
            )
        return CausalLMOutput(loss=loss, logits=logits)

    def prepare_inputs_for_generation(self, input_ids: torch.Tensor, attention_mask=None, **kwargs) -> dict:
        """Each generation step reads the last ``block_size`` tokens (no KV cache: a sliding window)."""
        window = input_ids[:, -self.config.block_size :]
        mask = attention_mask[:, -self.config.block_size :] if attention_mask is not None else None
        return {"input_ids": window, "attention_mask": mask}


def char_tokenizer(vocabulary: Vocabulary) -> PreTrainedTokenizerFast:
    """A fast tokenizer whose tokens are the characters of ``vocabulary``, numbered as it numbers
    them: ``tokenizer(text)["input_ids"] == vocabulary.encode(list(text)).tolist()``.

    Built from ``tokenizers`` parts: a ``WordLevel`` model (a lookup table), a pre-tokenizer that
    cuts the text into single characters, and a ``Fuse`` decoder that joins tokens without spaces.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    if vocabulary.unk_id is not None or vocabulary.pad_id is not None:
        raise ValueError("char_tokenizer takes a character vocabulary (Vocabulary.of_characters)")
    lookup = Tokenizer(models.WordLevel(dict(vocabulary.stoi), unk_token=None))
    lookup.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # one char each
    lookup.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=lookup, clean_up_tokenization_spaces=False)


def register_auto_classes() -> None:
    """Let ``AutoConfig`` and ``AutoModelForCausalLM`` load saved ``e2edl-gpt`` models."""
    try:
        AutoConfig.register(MODEL_TYPE, GPTHFConfig)
        AutoModelForCausalLM.register(GPTHFConfig, GPTForCausalLM)
    except ValueError:  # already registered in this process
        pass


register_auto_classes()
