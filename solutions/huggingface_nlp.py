"""Reference solutions to the huggingface-nlp lesson's exercises, and the typical mistakes their
checks catch."""

import torch


def mean_pool(hidden, attention_mask):
    """(B, T, C) token vectors and a (B, T) mask of 1 (real token) / 0 (padding) → (B, C)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def collate(examples, pad_id):
    """[{"input_ids": [ids], "label": int}, ...] → input_ids and attention_mask (B, T_longest), labels (B,)."""
    longest = max(len(example["input_ids"]) for example in examples)
    input_ids = torch.full((len(examples), longest), pad_id, dtype=torch.int64)
    attention_mask = torch.zeros(len(examples), longest, dtype=torch.int64)
    for i, example in enumerate(examples):
        n = len(example["input_ids"])
        input_ids[i, :n] = torch.tensor(example["input_ids"])
        attention_mask[i, :n] = 1
    labels = torch.tensor([example["label"] for example in examples], dtype=torch.int64)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def head_and_tail(ids, max_length, head_tokens, cls_id, sep_id):
    """[CLS] + the first head_tokens + the last (max_length - 2 - head_tokens) tokens + [SEP], when too long."""
    room = max_length - 2
    if len(ids) > room:
        ids = ids[:head_tokens] + ids[len(ids) - (room - head_tokens) :]
    return [cls_id, *ids, sep_id]


# ------------------------------------------------------------------------------ typical mistakes


def mean_pool_with_padding(hidden, attention_mask):
    return hidden.mean(1)


def mean_pool_sum(hidden, attention_mask):
    return (hidden * attention_mask.unsqueeze(-1)).sum(1)


def mean_pool_over_length(hidden, attention_mask):
    return (hidden * attention_mask.unsqueeze(-1)).sum(1) / hidden.size(1)


def mean_pool_unclamped(hidden, attention_mask):
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1)


def collate_to_512(examples, pad_id):
    input_ids = torch.full((len(examples), 512), pad_id, dtype=torch.int64)
    attention_mask = torch.zeros(len(examples), 512, dtype=torch.int64)
    for i, example in enumerate(examples):
        input_ids[i, : len(example["input_ids"])] = torch.tensor(example["input_ids"])
        attention_mask[i, : len(example["input_ids"])] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask,
            "labels": torch.tensor([e["label"] for e in examples])}  # fmt: skip


def collate_mask_of_ones(examples, pad_id):
    batch = collate(examples, pad_id)
    batch["attention_mask"] = torch.ones_like(batch["input_ids"])
    return batch


def collate_with_label_key(examples, pad_id):
    batch = collate(examples, pad_id)
    batch["label"] = batch.pop("labels")
    return batch


def collate_padding_left(examples, pad_id):
    longest = max(len(example["input_ids"]) for example in examples)
    input_ids = torch.full((len(examples), longest), pad_id, dtype=torch.int64)
    attention_mask = torch.zeros(len(examples), longest, dtype=torch.int64)
    for i, example in enumerate(examples):
        n = len(example["input_ids"])
        input_ids[i, longest - n :] = torch.tensor(example["input_ids"])
        attention_mask[i, longest - n :] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask,
            "labels": torch.tensor([e["label"] for e in examples])}  # fmt: skip


def head_only(ids, max_length, head_tokens, cls_id, sep_id):
    return [cls_id, *ids[: max_length - 2], sep_id]


def head_and_tail_forgetting_specials(ids, max_length, head_tokens, cls_id, sep_id):
    if len(ids) > max_length:
        ids = ids[:head_tokens] + ids[len(ids) - (max_length - head_tokens) :]
    return [cls_id, *ids, sep_id]


def head_and_tail_without_specials(ids, max_length, head_tokens, cls_id, sep_id):
    room = max_length
    if len(ids) > room:
        ids = ids[:head_tokens] + ids[len(ids) - (room - head_tokens) :]
    return list(ids)


MISTAKES = {
    "mean-pooling": [
        (mean_pool_with_padding, "padding included"),
        (mean_pool_sum, "sum"),
        (mean_pool_over_length, "counts the padding"),
        (mean_pool_unclamped, "divides by zero"),
    ],
    "dynamic-padding": [
        (collate_to_512, "longest sequence"),
        (collate_mask_of_ones, "attention_mask must be 0"),
        (collate_with_label_key, "labels, not label"),
        (collate_padding_left, "on the right"),
    ],
    "head-and-tail": [
        (head_only, "only the head"),
        (head_and_tail_forgetting_specials, "[CLS] and [SEP] count too"),
        (head_and_tail_without_specials, "cls_id"),
    ],
}
