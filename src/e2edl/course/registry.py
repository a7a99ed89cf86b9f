"""The course's lessons, in order. Each module ``e2edl.experiments.<name>`` named here defines ``LESSON``.

A lesson's number is its place in this list, so renumbering the course is a change of one line.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from functools import cache

from e2edl.course.lesson import Lesson

# Experiment modules under e2edl.experiments, in course order. A new lesson adds one line here.
COURSE_ORDER = (
    "tensors_autograd",
    "linear_regression",
    "mnist_mlp",
    "mnist_cnn",
    "autoencoders",
    "dataloaders",
    "residual",
    "resnet_from_scratch",
    "transfer_learning",
    "huggingface_transfer",
    "vit",
    "sequences",
    "gpt",
    "huggingface_nlp",
    "data_parallel",
    "model_parallel",
    "experiment_tracking",
    "hyperparameter_tuning",
    "data_storage",
)


class UnknownLesson(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; a CLI wants it plain
        return str(self.args[0])


@cache
def _lessons() -> tuple[Lesson, ...]:
    return tuple(
        dataclasses.replace(importlib.import_module(f"e2edl.experiments.{module}").LESSON, number=number)
        for number, module in enumerate(COURSE_ORDER, start=1)
    )


def all_lessons() -> list[Lesson]:
    """Every lesson, numbered in course order."""
    return list(_lessons())


def get_lesson(name: str) -> Lesson:
    """Find a lesson by name (``mnist-cnn``), by number (``4``, ``04``) or by its file stem."""
    lessons = all_lessons()
    for lesson in lessons:
        if name in (lesson.name, lesson.stem, lesson.name.replace("-", "_")) or (
            name.isdigit() and int(name) == lesson.number
        ):
            return lesson
    names = [lesson.name for lesson in lessons]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else f"known lessons: {', '.join(names)}"
    raise UnknownLesson(f"unknown lesson {name!r}; {hint} (`e2edl list` shows them all)")
