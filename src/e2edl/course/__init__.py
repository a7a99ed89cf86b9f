"""The course machinery: the lesson registry, claims, the runner, the full-run reference and the report.

``run_lesson(name, quick=True)`` is what both a notebook's last cells and ``e2edl run`` call. Each
lesson's experiment lives in ``e2edl.experiments.<name>``; this package never holds lesson code.
"""

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.course.reference import full_run
from e2edl.course.registry import UnknownLesson, all_lessons, get_lesson
from e2edl.course.runner import LessonResult, format_result, passed, run_lesson

__all__ = [
    "Claim",
    "Lesson",
    "LessonResult",
    "RunConfig",
    "UnknownLesson",
    "all_lessons",
    "format_result",
    "full_run",
    "get_lesson",
    "passed",
    "run_lesson",
]
