"""The course's lessons, in order. Each module under ``e2edl.lessons`` named here defines ``LESSON``."""

from __future__ import annotations

import difflib
import importlib

from e2edl.lessons.lesson import Lesson

# Module names under e2edl.lessons, in course order. A new lesson adds one line here.
_MODULES = (
    "tensors_autograd",
    "linear_regression",
    "mnist_mlp",
    "mnist_cnn",
    "autoencoders",
    "resnet_from_scratch",
    "transfer_learning",
    "huggingface_transfer",
    "vit",
    "dataloaders",
    "residual",
)


class UnknownLesson(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; a CLI wants it plain
        return str(self.args[0])


def all_lessons() -> list[Lesson]:
    lessons = [importlib.import_module(f"e2edl.lessons.{m}").LESSON for m in _MODULES]
    return sorted(lessons, key=lambda lesson: lesson.number)


def get_lesson(name: str) -> Lesson:
    """Find a lesson by name (``mnist-cnn``), by number (``4``, ``04``) or by its file stem."""
    lessons = all_lessons()
    for lesson in lessons:
        stem = f"{lesson.number:02d}_{lesson.name.replace('-', '_')}"
        if name in (lesson.name, stem, lesson.name.replace("-", "_")) or (
            name.isdigit() and int(name) == lesson.number
        ):
            return lesson
    names = [lesson.name for lesson in lessons]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else f"known lessons: {', '.join(names)}"
    raise UnknownLesson(f"unknown lesson {name!r}; {hint} (`e2edl list` shows them all)")
