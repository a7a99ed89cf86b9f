"""The huggingface-nlp lesson's exercises: mean pooling over the real tokens, a collate function
with dynamic padding and an attention mask, and head-and-tail truncation. The oracles are the
library's own (``e2edl.nn.minilm.mean_pool``, ``e2edl.recipes.huggingface_nlp.head_and_tail``) or
written here in a few lines of torch; nothing in the checks loads a model."""

from __future__ import annotations

import torch

from e2edl.exercises.checking import Hint, call, expect_equal, expect_tensor
from e2edl.exercises.exercise import Exercise


def check_mean_pool(fn) -> None:
    from e2edl.nn.minilm import mean_pool

    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    got = call(fn, hidden, mask, what="mean_pool(hidden, attention_mask)")
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (3, 5, 4):
        raise Hint("average over the token axis (dim 1): one (C,) vector per sequence, (B, C) in all.")
    want = mean_pool(hidden, mask)
    if (
        isinstance(got, torch.Tensor)
        and got.shape == want.shape
        and torch.allclose(got, hidden.mean(1), atol=1e-6)
    ):
        raise Hint("that is the mean over every position, padding included: weight each token by its "
                   "attention_mask and divide by the number of real tokens.")  # fmt: skip
    if (
        isinstance(got, torch.Tensor)
        and got.shape == want.shape
        and torch.allclose(got, (hidden * mask[..., None]).sum(1), atol=1e-6)
    ):
        raise Hint(
            "that is the sum of the real tokens' vectors: divide by how many real tokens each sequence has."
        )
    if (
        isinstance(got, torch.Tensor)
        and got.shape == want.shape
        and torch.allclose(got, (hidden * mask[..., None]).sum(1) / hidden.size(1), atol=1e-6)
    ):
        raise Hint(
            "dividing by the padded length T counts the padding: divide by mask.sum(1), the real tokens."
        )
    expect_tensor(got, want, "the pooled vectors", atol=1e-5)
    padded = hidden.clone()
    padded[0, 3:] = 1e3  # what sits at padded positions must not matter
    expect_tensor(call(fn, padded, mask, what="mean_pool"), want, "the pooled vectors when padding holds large values",
                  atol=1e-4)  # fmt: skip
    empty = torch.zeros(1, 3, dtype=torch.int64)
    got = call(fn, hidden[:1, :3], empty, what="mean_pool with an all-padding row")
    if not isinstance(got, torch.Tensor) or not torch.isfinite(got).all():
        raise Hint(
            "a row with no real token divides by zero: clamp the count to at least a tiny number (clamp(min=1e-9))."
        )


def _oracle_collate(examples, pad_id):
    longest = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), longest), pad_id, dtype=torch.int64)
    mask = torch.zeros(len(examples), longest, dtype=torch.int64)
    for i, e in enumerate(examples):
        ids[i, : len(e["input_ids"])] = torch.tensor(e["input_ids"])
        mask[i, : len(e["input_ids"])] = 1
    return {"input_ids": ids, "attention_mask": mask,
            "labels": torch.tensor([e["label"] for e in examples], dtype=torch.int64)}  # fmt: skip


def check_collate(fn) -> None:
    examples = [
        {"input_ids": [101, 7, 8, 9, 102], "label": 1},
        {"input_ids": [101, 5, 102], "label": 0},
        {"input_ids": [101, 4, 4, 4, 4, 4, 102], "label": 1},
    ]
    for batch, pad_id in ((examples, 0), (examples[:2], 3)):
        want = _oracle_collate(batch, pad_id)
        got = call(fn, batch, pad_id, what="collate(examples, pad_id)")
        if not isinstance(got, dict):
            raise Hint(f"collate should return a dict, got {type(got).__name__}.")
        if set(got) != set(want):
            raise Hint('the batch needs exactly the keys "input_ids", "attention_mask" and "labels" (the model\'s '
                       f"forward arguments: labels, not label), got {sorted(got)}.")  # fmt: skip
        ids = got["input_ids"]
        if isinstance(ids, torch.Tensor) and ids.ndim == 2 and ids.size(1) > want["input_ids"].size(1):
            raise Hint(f"dynamic padding pads to the longest sequence *in the batch* ({want['input_ids'].size(1)} "
                       f"here), not to a fixed length ({ids.size(1)}).")  # fmt: skip
        if isinstance(ids, torch.Tensor) and ids.shape == want["input_ids"].shape and torch.equal(
            ids, torch.stack([r.roll(int((r == pad_id).sum())) for r in want["input_ids"]])
        ) and pad_id in ids[:, 0]:  # fmt: skip
            raise Hint(
                "the padding goes after the tokens (on the right), as DataCollatorWithPadding puts it for an encoder."
            )
        expect_tensor(ids, want["input_ids"], f"input_ids (pad_id {pad_id})")
        mask = got["attention_mask"]
        if isinstance(mask, torch.Tensor) and mask.shape == want["attention_mask"].shape and bool(mask.all()):
            raise Hint(
                "attention_mask must be 0 at the padding positions (1 at real tokens), or the model attends to padding."
            )
        expect_tensor(mask, want["attention_mask"], "attention_mask")
        labels = got["labels"]
        if isinstance(labels, torch.Tensor) and labels.dtype != torch.int64:
            raise Hint(
                f"labels should be int64 class indices, as cross_entropy needs, but they are {labels.dtype}."
            )
        expect_tensor(labels, want["labels"], "labels")


def check_head_and_tail(fn) -> None:
    from e2edl.recipes.huggingface_nlp import head_and_tail

    ids = list(range(10, 40))  # 30 tokens
    cases = [(ids, 12, 4), (ids, 32, 10), (ids[:5], 12, 4), (ids, 10, 0)]
    for tokens, max_length, head in cases:
        want = head_and_tail(tokens, max_length, head, 101, 102)
        got = call(fn, list(tokens), max_length, head, 101, 102,
                   what=f"head_and_tail(<{len(tokens)} ids>, max_length={max_length}, head_tokens={head}, ...)")  # fmt: skip
        if not isinstance(got, list):
            raise Hint(f"return a list of ids, got {type(got).__name__}.")
        if len(got) > max_length:
            raise Hint(f"{len(got)} ids for max_length {max_length}: [CLS] and [SEP] count too, so "
                       f"{max_length - 2} tokens of the review fit.")  # fmt: skip
        if got[:1] != [101] or got[-1:] != [102]:
            raise Hint("start with cls_id and end with sep_id: the model was trained on [CLS] … [SEP].")
        if len(tokens) + 2 > max_length and got[1:-1] == tokens[: max_length - 2]:
            raise Hint(
                "that keeps only the head: keep the first head_tokens and fill the rest from the END of the review."
            )
        expect_equal(
            got, want, f"the ids for {len(tokens)} tokens, max_length {max_length}, head_tokens {head}"
        )


EXERCISES = [
    Exercise("mean-pooling", "mean_pool", "the mean of token vectors over the real tokens (attention mask)",
             check_mean_pool),
    Exercise("dynamic-padding", "collate", "examples → input_ids padded to the longest, attention_mask, labels",
             check_collate),
    Exercise("head-and-tail", "head_and_tail", "truncate a long review to its first and last tokens",
             check_head_and_tail),
]  # fmt: skip
