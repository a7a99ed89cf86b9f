"""The lesson registry: each lesson's name, title, data, claims and experiment.

``run_lesson(name, quick=True)`` is what both a notebook's last cells and ``e2edl run`` call.
"""

from e2edl.lessons.claims import Claim
from e2edl.lessons.lesson import Lesson, RunConfig
from e2edl.lessons.registry import UnknownLesson, all_lessons, get_lesson
from e2edl.lessons.runner import format_result, passed, run_lesson

__all__ = [
    "Claim",
    "Lesson",
    "RunConfig",
    "UnknownLesson",
    "all_lessons",
    "format_result",
    "get_lesson",
    "passed",
    "run_lesson",
]
