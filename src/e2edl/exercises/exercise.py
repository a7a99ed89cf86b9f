"""An exercise (a name, the function the learner writes, its check), the registry, and ``check``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from e2edl.exercises.checking import Hint


@dataclass(frozen=True)
class Exercise:
    """One exercise of a lesson.

    ``function`` is the name the learner's code must define (the stub in the lesson has it);
    ``check(fn)`` returns quietly if ``fn`` is right and raises :class:`Hint` if not.
    """

    name: str
    function: str
    task: str
    check: Callable[[Callable], None]


@dataclass(frozen=True)
class Verdict:
    exercise: str
    ok: bool
    message: str

    def __str__(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.exercise}: {self.message}"

    def _repr_markdown_(self) -> str:
        return f"{'✅' if self.ok else '❌'} **{self.exercise}**: {self.message}"


@cache
def _registry() -> dict[str, tuple[str, Exercise]]:
    """exercise name → (lesson name, exercise), for every lesson in course order that has exercises."""
    from e2edl.course.registry import COURSE_ORDER

    found: dict[str, tuple[str, Exercise]] = {}
    for module in COURSE_ORDER:  # a lesson is named after its module (without importing the experiment)
        try:
            exercises = importlib.import_module(f"e2edl.exercises.{module}").EXERCISES
        except ModuleNotFoundError as error:
            if error.name != f"e2edl.exercises.{module}":
                raise
            continue
        for exercise in exercises:
            if exercise.name in found:
                raise ValueError(f"two exercises are named {exercise.name!r}")
            found[exercise.name] = (module.replace("_", "-"), exercise)
    return found


def exercises_for(lesson: str) -> list[Exercise]:
    """The exercises of a lesson (by its name), in the order the lesson gives them."""
    return [exercise for owner, exercise in _registry().values() if owner == lesson]


def get_exercise(name: str) -> Exercise:
    try:
        return _registry()[name][1]
    except KeyError:
        known = ", ".join(_registry())
        raise KeyError(f"no exercise named {name!r}; the exercises are: {known}") from None


def run_check(exercise: Exercise, fn) -> Verdict:
    """Run one check and turn its outcome into a verdict (it never raises for learner code)."""
    if not callable(fn):
        return Verdict(
            exercise.name, False, f"expected a function `{exercise.function}`, got {type(fn).__name__}."
        )
    try:
        exercise.check(fn)
    except Hint as hint:
        return Verdict(exercise.name, False, str(hint))
    except Exception as error:  # a check must never crash on odd learner code; say so plainly
        return Verdict(
            exercise.name, False, f"the check could not run your code ({type(error).__name__}: {error})."
        )
    return Verdict(exercise.name, True, "passed.")


def check(name: str, fn) -> None:
    """Check the learner's ``fn`` for exercise ``name`` and print the verdict. Never raises for
    learner code (an unknown exercise name is the lesson's bug, and does raise)."""
    print(run_check(get_exercise(name), fn))
