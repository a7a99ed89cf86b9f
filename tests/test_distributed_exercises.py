"""The data-parallel and model-parallel lessons' exercises: each reference solution passes, each
stub fails with "not written yet", each typical mistake fails with a hint that names it.

``tests/test_exercises.py`` checks the same for every *registered* lesson (and that the lesson
calls each check); this file covers these two until the registry lists them.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

from e2edl.exercises.exercise import run_check

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("data_parallel", "model_parallel")


def solutions(module: str):
    spec = importlib.util.spec_from_file_location(f"solutions_{module}", ROOT / "solutions" / f"{module}.py")
    solution = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(solution)
    return solution


CASES = [(m, e) for m in MODULES for e in importlib.import_module(f"e2edl.exercises.{m}").EXERCISES]


@pytest.mark.parametrize(("module", "exercise"), CASES, ids=[e.name for _, e in CASES])
def test_solution_passes_stub_and_mistakes_fail_with_their_hints(module: str, exercise) -> None:
    solution = solutions(module)
    verdict = run_check(exercise, getattr(solution, exercise.function))
    assert verdict.ok, verdict.message

    def stub(*args, **kwargs):
        raise NotImplementedError

    verdict = run_check(exercise, stub)
    assert not verdict.ok and "not written yet" in verdict.message
    mistakes = solution.MISTAKES[exercise.name]
    assert mistakes
    for wrong, phrase in mistakes:
        verdict = run_check(exercise, wrong)
        assert not verdict.ok and phrase in verdict.message, (wrong.__name__, verdict.message)


@pytest.mark.parametrize("module", MODULES)
def test_two_to_four_exercises(module: str) -> None:
    assert 2 <= len(importlib.import_module(f"e2edl.exercises.{module}").EXERCISES) <= 4
