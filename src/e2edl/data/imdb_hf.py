"""IMDb as a Hugging Face ``DatasetDict``, built from the course's own files (no hub, no internet).

``load_dataset("imdb")`` downloads the data set from the hub. Offline, the same thing is built from
the archive that ``e2edl data fetch imdb`` (or the mirror) provides: the reviews are read by
``e2edl.data.imdb.load_imdb`` (one behaviour for empty, over-long and non-UTF-8 reviews) and written
once into Apache Arrow files in the ``datasets`` cache by ``Dataset.from_generator``. Later calls
find the cache (``datasets`` names it after a fingerprint of the generator and its arguments) and
open the Arrow files **memory-mapped**: nothing is read into the process until an example is used.

Columns: ``text`` (str) and ``label`` (``ClassLabel``: 0 ``neg``, 1 ``pos``), as on the hub; the
splits ``train`` and ``test`` (25,000 each) keep ``load_imdb``'s order (negatives, then positives).
"""

from __future__ import annotations

import os

from e2edl.data.imdb import CLASS_NAMES, load_imdb


def imdb_features():
    """The columns' types: the review's text and its label, named as on the hub."""
    from datasets import ClassLabel, Features, Value

    return Features({"text": Value("string"), "label": ClassLabel(names=CLASS_NAMES)})


def _reviews(split: str, mirror: str | None, home: str | None):
    texts, labels = load_imdb(split, mirror=mirror, home=home)
    for text, label in zip(texts, labels):
        yield {"text": text, "label": label}


def imdb_dataset_dict(
    *,
    mirror: str | os.PathLike | None = None,
    home: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
):
    """``DatasetDict({"train", "test"})`` of IMDb's labelled reviews, memory-mapped from the
    ``datasets`` cache (``cache_dir``, default ``~/.cache/huggingface/datasets``); built on the first call."""
    import datasets

    splits = {}
    was_enabled = datasets.is_progress_bar_enabled()
    if not progress:
        datasets.disable_progress_bars()
    try:
        for split in ("train", "test"):
            splits[split] = datasets.Dataset.from_generator(
                _reviews,
                gen_kwargs={"split": split, "mirror": _str(mirror), "home": _str(home)},
                features=imdb_features(),
                cache_dir=_str(cache_dir),
                split=split,
            )
    finally:
        if was_enabled and not progress:
            datasets.enable_progress_bars()
    return datasets.DatasetDict(splits)


def _str(path) -> str | None:
    return None if path is None else str(path)
