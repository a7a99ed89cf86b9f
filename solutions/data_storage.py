"""Reference solutions to the data-storage lesson's exercises, and the typical mistakes their checks catch."""

import random
from collections import Counter


def label_autocorrelation(labels, batch_size):
    """How much more often neighbours within a batch share a label than chance: 0 random, 1 one class per batch."""
    labels = [int(y) for y in labels]
    same = pairs = 0
    for start in range(0, len(labels), batch_size):
        batch = labels[start : start + batch_size]
        same += sum(a == b for a, b in zip(batch, batch[1:]))  # neighbours in this batch only
        pairs += len(batch) - 1
    chance = sum((count / len(labels)) ** 2 for count in Counter(labels).values())  # Σ p_c²
    if pairs == 0 or chance == 1:
        return 0.0
    return (same / pairs - chance) / (1 - chance)


def group_by_key(members):
    """Members ``(name, data)`` of a tar shard, in order → samples ``{"__key__": key, extension: data, ...}``."""
    sample = None
    for name, data in members:
        folder, _, file_name = name.rpartition("/")
        stem, _, extension = file_name.partition(".")  # the FIRST dot of the file name
        key = f"{folder}/{stem}" if folder else stem
        if sample is None or sample["__key__"] != key:  # a new key starts a new sample
            if sample is not None:
                yield sample
            sample = {"__key__": key}
        sample[extension] = data
    if sample is not None:
        yield sample


def buffer_shuffle(items, buffer_size, seed):
    """Yield every item of the stream ``items`` once, in an order shuffled through ``buffer_size`` slots."""
    rng = random.Random(seed)
    buffer = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        slot = rng.randrange(
            len(buffer)
        )  # the buffer is full: a random one leaves, the new one takes its slot
        yield buffer[slot]
        buffer[slot] = item
    rng.shuffle(buffer)  # the stream ran out: the rest, in random order
    yield from buffer


# ------------------------------------------------------------------------------ typical mistakes


def _across_batches(labels, batch_size):
    return label_autocorrelation(labels, len(labels))  # one batch: every neighbour pair counts


def _no_chance_correction(labels, batch_size):
    labels = [int(y) for y in labels]
    same = pairs = 0
    for start in range(0, len(labels), batch_size):
        batch = labels[start : start + batch_size]
        same += sum(a == b for a, b in zip(batch, batch[1:]))
        pairs += len(batch) - 1
    return same / pairs


def _drops_last_batch(labels, batch_size):
    labels = [int(y) for y in labels]
    full = len(labels) - len(labels) % batch_size
    if full == 0:
        return 0.0
    same = pairs = 0
    for start in range(0, full, batch_size):
        batch = labels[start : start + batch_size]
        same += sum(a == b for a, b in zip(batch, batch[1:]))
        pairs += len(batch) - 1
    chance = sum((count / len(labels)) ** 2 for count in Counter(labels).values())
    return 0.0 if chance == 1 else (same / pairs - chance) / (1 - chance)


def _divides_by_zero(labels, batch_size):
    labels = [int(y) for y in labels]
    same = pairs = 0
    for start in range(0, len(labels), batch_size):
        batch = labels[start : start + batch_size]
        same += sum(a == b for a, b in zip(batch, batch[1:]))
        pairs += len(batch) - 1
    chance = sum((count / len(labels)) ** 2 for count in Counter(labels).values())
    return (same / pairs - chance) / (1 - chance)


def _last_dot(members):
    sample = None
    for name, data in members:
        key, _, extension = name.rpartition(".")  # a.seg.png → key a.seg
        if sample is None or sample["__key__"] != key:
            if sample is not None:
                yield sample
            sample = {"__key__": key}
        sample[extension] = data
    if sample is not None:
        yield sample


def _first_dot_of_path(members):
    sample = None
    for name, data in members:
        key, _, extension = name.partition(".")
        if sample is None or sample["__key__"] != key:
            if sample is not None:
                yield sample
            sample = {"__key__": key}
        sample[extension] = data
    if sample is not None:
        yield sample


def _forgets_the_last_sample(members):
    sample = None
    for name, data in members:
        stem, _, extension = name.partition(".")
        if sample is None or sample["__key__"] != stem:
            if sample is not None:
                yield sample
            sample = {"__key__": stem}
        sample[extension] = data


def _dict_of_keys(members):
    samples = {}
    for name, data in members:
        folder, _, file_name = name.rpartition("/")
        stem, _, extension = file_name.partition(".")
        key = f"{folder}/{stem}" if folder else stem
        samples.setdefault(key, {"__key__": key})[extension] = data
    return list(samples.values())


def _drops_the_buffer(items, buffer_size, seed):
    rng = random.Random(seed)
    buffer = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        slot = rng.randrange(len(buffer))
        yield buffer[slot]
        buffer[slot] = item


def _oldest_first(items, buffer_size, seed):
    buffer = []
    for item in items:
        buffer.append(item)
        if len(buffer) > buffer_size - 1:
            yield buffer.pop(0)
    yield from buffer


def _reads_everything(items, buffer_size, seed):
    everything = list(items)
    random.Random(seed).shuffle(everything)
    return everything


def _global_random(items, buffer_size, seed):
    buffer = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        slot = random.randrange(len(buffer))
        yield buffer[slot]
        buffer[slot] = item
    random.shuffle(buffer)
    yield from buffer


MISTAKES = {
    "label-autocorrelation": [
        (_across_batches, "straddle two batches"),
        (_no_chance_correction, "subtract what chance gives"),
        (_drops_last_batch, "the last, shorter batch counts too"),
        (_divides_by_zero, "with a single class"),
    ],
    "group-by-key": [
        (_last_dot, "FIRST dot"),
        (_first_dot_of_path, "the folder is part of the key"),
        (_forgets_the_last_sample, "the last sample is missing"),
        (_dict_of_keys, "group consecutive members only"),
    ],
    "buffer-shuffle": [
        (_drops_the_buffer, "the items still in the buffer must be yielded too"),
        (_oldest_first, "not the oldest one"),
        (_reads_everything, "never hold more than buffer_size items"),
        (_global_random, "the same seed gave another order"),
    ],
}
