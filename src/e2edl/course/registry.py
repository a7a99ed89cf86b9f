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
def _lesson_of(module: str) -> Lesson:
    """The lesson defined by ``e2edl.experiments.<module>``, numbered by its place in the course.
    Importing one experiment module, not all of them: some import heavy libraries (scikit-learn,
    transformers, Ray) that another lesson's run need not pay for."""
    number = COURSE_ORDER.index(module) + 1
    return dataclasses.replace(importlib.import_module(f"e2edl.experiments.{module}").LESSON, number=number)


def all_lessons() -> list[Lesson]:
    """Every lesson, numbered in course order."""
    return [_lesson_of(module) for module in COURSE_ORDER]


def _module_named(name: str) -> str | None:
    """The experiment module a lesson's name (``mnist-cnn``), number (``4``, ``04``), file stem
    (``04_mnist_cnn``) or module name points to; ``None`` if none. Relies on a lesson being named
    after its module (``tests/test_lessons.py`` checks it), so nothing is imported to find it."""
    for number, module in enumerate(COURSE_ORDER, start=1):
        if name in (module.replace("_", "-"), module, f"{number:02d}_{module}") or (
            name.isdigit() and int(name) == number
        ):
            return module
    return None


def get_lesson(name: str) -> Lesson:
    """Find a lesson by name (``mnist-cnn``), by number (``4``, ``04``) or by its file stem."""
    module = _module_named(name)
    if module is not None:
        return _lesson_of(module)
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
