"""SmolLM2-135M-Instruct through transformers, as the huggingface-nlp lesson uses it (full mode only
there): the chat-template prompt, left padding, and a LoRA fine-tune that trains only its adapters.
Loading the model takes 20–60 s, so these tests are slow and share one load."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("peft")
pytestmark = pytest.mark.slow

REVIEWS = [
    "One of the best films I have seen this year. Moving, funny and beautifully acted.",
    "Dull, predictable and far too long. I nearly walked out.",
    "A masterpiece: the score, the photography, the cast, all wonderful.",
    "Awful script, wooden acting, and a plot with holes you could drive a truck through.",
]


@pytest.fixture(scope="module")
def smollm2():
    from e2edl.nn.smollm2 import load_smollm2_reference

    try:
        return load_smollm2_reference()
    except (FileNotFoundError, ImportError) as error:
        pytest.skip(str(error))


def test_left_padded_prompts_end_where_the_answer_starts(smollm2) -> None:
    from e2edl.recipes.huggingface_nlp import last_logits, left_padding_same, sentiment_prompt

    model, tokenizer = smollm2
    prompts = [sentiment_prompt(tokenizer, review, 24) for review in REVIEWS[:2]]
    assert "<|im_start|>assistant\n" in prompts[0] and prompts[0].endswith("assistant\n")
    with torch.no_grad():
        together = last_logits(model, tokenizer, prompts)  # different lengths: one is padded
        alone = torch.cat([last_logits(model, tokenizer, [p]) for p in prompts])
    assert (together - alone).abs().max() < 1e-3
    assert left_padding_same(model, tokenizer, ["What is 2 + 2?", "Name a fruit."], n_new=6) == 1.0


def test_lora_trains_only_its_adapters(smollm2) -> None:
    from e2edl.recipes.huggingface_nlp import (
        LoraRecipe,
        chat_accuracy,
        lora_fine_tune,
        sentiment_prompt,
        trainable_parameters,
    )

    model, tokenizer = smollm2
    recipe = LoraRecipe(review_tokens=24, batch_size=2, lr=1e-3)
    prompts = [sentiment_prompt(tokenizer, review, recipe.review_tokens) for review in REVIEWS]
    labels = torch.tensor([1, 0, 1, 0])
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    accuracy = chat_accuracy(model, tokenizer, prompts, labels)
    assert 0.0 <= accuracy <= 1.0
    adapted, losses, seconds = lora_fine_tune(model, tokenizer, prompts, labels, recipe, progress=False)
    trainable, total = trainable_parameters(adapted)
    layers, width, kv_width = model.config.num_hidden_layers, model.config.hidden_size, 192
    # rank × (in + out) for each adapted matrix: q_proj (width → width), v_proj (width → kv_width)
    assert trainable == layers * recipe.rank * ((width + width) + (width + kv_width))
    assert trainable < 0.005 * total
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses))) and seconds > 0
    base = adapted.get_base_model()
    for name, p in base.named_parameters():
        if "lora_" not in name:
            original = name.replace(".base_layer", "")
            assert torch.equal(p, before[original]), name  # the pretrained weights are untouched
    adapted.unload()  # the shared model back as it was for other tests
