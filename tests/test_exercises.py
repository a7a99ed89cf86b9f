"""Every exercise: its reference solution passes, its untouched stub fails with the stub hint, and
each typical mistake listed beside the solution fails with a hint naming it."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from e2edl import cli
from e2edl.course import all_lessons
from e2edl.course.registry import COURSE_ORDER
from e2edl.exercises import exercises_for
from e2edl.exercises.cells import exercise_cells
from e2edl.exercises.exercise import run_check

ROOT = Path(__file__).resolve().parents[1]
LESSONS = {lesson.name: (module, lesson) for module, lesson in zip(COURSE_ORDER, all_lessons())}
WITH_EXERCISES = [name for name in LESSONS if exercises_for(name)]
STUB_HINT = "not written yet"


def solutions(module: str):
    path = ROOT / "solutions" / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"solutions_{module}", path)
    solution = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(solution)
    return solution


def stubs(lesson) -> dict:
    namespace: dict = {"__name__": "__exercises__"}
    for source in exercise_cells(ROOT / lesson.source):
        exec(compile(source, lesson.source, "exec"), namespace)
    return namespace


CASES = [(name, exercise) for name in WITH_EXERCISES for exercise in exercises_for(name)]
IDS = [f"{lesson}:{exercise.name}" for lesson, exercise in CASES]


@pytest.mark.parametrize("lesson_name", [lesson.name for lesson in all_lessons()])
def test_every_lesson_ends_with_two_to_four_exercises(lesson_name: str) -> None:
    exercises = exercises_for(lesson_name)
    assert 2 <= len(exercises) <= 4, f"{lesson_name} has {len(exercises)} exercises"
    module, lesson = LESSONS[lesson_name]
    source = (ROOT / lesson.source).read_text()
    assert (ROOT / "solutions" / f"{module}.py").is_file()
    for exercise in exercises:
        assert f'check("{exercise.name}", {exercise.function})' in source, (
            f"{lesson.source} never calls check({exercise.name!r}, {exercise.function})"
        )


@pytest.mark.parametrize(("lesson_name", "exercise"), CASES, ids=IDS)
def test_the_reference_solution_passes(lesson_name: str, exercise) -> None:
    module, _ = LESSONS[lesson_name]
    verdict = run_check(exercise, getattr(solutions(module), exercise.function))
    assert verdict.ok, verdict.message


@pytest.mark.parametrize(("lesson_name", "exercise"), CASES, ids=IDS)
def test_the_untouched_stub_fails_with_its_hint(lesson_name: str, exercise) -> None:
    _, lesson = LESSONS[lesson_name]
    verdict = run_check(exercise, stubs(lesson)[exercise.function])
    assert not verdict.ok and STUB_HINT in verdict.message, verdict.message


@pytest.mark.parametrize(("lesson_name", "exercise"), CASES, ids=IDS)
def test_typical_mistakes_fail_with_a_hint_that_names_them(lesson_name: str, exercise) -> None:
    module, _ = LESSONS[lesson_name]
    mistakes = getattr(solutions(module), "MISTAKES", {}).get(exercise.name, [])
    assert mistakes, f"list at least one typical mistake for {exercise.name} in solutions/{module}.py"
    for wrong, phrase in mistakes:
        verdict = run_check(exercise, wrong)
        assert not verdict.ok, f"{wrong.__name__} passed the check of {exercise.name}"
        assert phrase in verdict.message, (phrase, verdict.message)


@pytest.mark.skipif(not WITH_EXERCISES, reason="no lesson has exercises yet")
def test_e2edl_check_reads_a_learners_notebook(tmp_path: Path, capsys) -> None:
    """Untouched: exit 1 with the hints. With the solutions pasted into the exercise cells: exit 0."""
    name = WITH_EXERCISES[0]
    module, lesson = LESSONS[name]
    copy = tmp_path / "mine.ipynb"
    shutil.copy(ROOT / lesson.notebook, copy)
    assert cli.main(["check", name, "--notebook", str(copy)]) == 1
    out = capsys.readouterr().out
    assert STUB_HINT in out and f"0 of {len(exercises_for(name))}" in out

    notebook = json.loads(copy.read_text())
    solved = (ROOT / "solutions" / f"{module}.py").read_text()
    tagged = [c for c in notebook["cells"] if "exercise" in c.get("metadata", {}).get("tags", [])]
    tagged[0]["source"] = solved
    for cell in tagged[1:]:
        cell["source"] = ""
    copy.write_text(json.dumps(notebook))
    assert cli.main(["check", name, "--notebook", str(copy)]) == 0, capsys.readouterr().out


def test_e2edl_check_without_the_notebook_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    name = WITH_EXERCISES[0] if WITH_EXERCISES else all_lessons()[0].name
    assert cli.main(["check", name, "--notebook", str(tmp_path / "absent.ipynb")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--notebook" in err
