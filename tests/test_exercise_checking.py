"""The check helpers turn wrong learner code into hints, never into tracebacks."""

from __future__ import annotations

import pytest
import torch

from e2edl.exercises import Exercise, Hint
from e2edl.exercises.cells import exercise_cells
from e2edl.exercises.checking import call, expect_equal, expect_number, expect_tensor
from e2edl.exercises.exercise import run_check


def hint_of(action) -> str:
    with pytest.raises(Hint) as caught:
        action()
    return str(caught.value)


def test_call_turns_stubs_and_crashes_into_hints() -> None:
    def stub(x):
        raise NotImplementedError

    def crash(x):
        return x @ x  # (2, 3) @ (2, 3): a shape error

    assert "not written yet" in hint_of(lambda: call(stub, torch.zeros(2, 3)))
    message = hint_of(lambda: call(crash, torch.zeros(2, 3), what="`f`"))
    assert message.startswith("`f` raised RuntimeError") and "(2, 3) float32 tensor" in message


def test_expect_tensor_names_type_shape_nan_and_the_worst_value() -> None:
    want = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert "should be a tensor" in hint_of(lambda: expect_tensor([1.0], want, "x"))
    assert "shape (4,), expected (2, 2)" in hint_of(lambda: expect_tensor(want.flatten(), want, "x"))
    assert "NaN" in hint_of(lambda: expect_tensor(torch.full((2, 2), float("nan")), want, "x"))
    off = want.clone()
    off[1, 0] = 3.5
    message = hint_of(lambda: expect_tensor(off, want, "x"))
    assert "index (1, 0)" in message and "got 3.5" in message and "expected 3" in message
    expect_tensor(want + 1e-8, want, "x")  # within tolerance: quiet
    assert "1 of 3 entries" in hint_of(
        lambda: expect_tensor(torch.tensor([1, 2, 4]), torch.tensor([1, 2, 3]), "y")
    )


def test_expect_number_and_equal() -> None:
    assert "expected 2" in hint_of(lambda: expect_number(2.5, 2.0, "loss"))
    assert "single number" in hint_of(lambda: expect_number(torch.zeros(3), 0.0, "loss"))
    expect_number(torch.tensor(2.0), 2.0, "loss")
    assert "is 13, expected 14" in hint_of(lambda: expect_equal(13, 14, "the output size"))


def test_run_check_never_raises_for_learner_code() -> None:
    def strict(fn):
        expect_number(call(fn, 2.0), 4.0, "square(2)")

    exercise = Exercise("square", "square", "square a number", strict)
    assert run_check(exercise, lambda x: x * x).ok
    assert "expected 4" in run_check(exercise, lambda x: x + x + 1).message
    assert "expected a function" in run_check(exercise, 3).message
    assert "raised ZeroDivisionError" in run_check(exercise, lambda x: 1 / 0).message


def test_exercise_cells_are_found_in_notebooks_and_lesson_sources(tmp_path) -> None:
    source = tmp_path / "lesson.py"
    source.write_text(
        '# %% [markdown]\n# text\n\n# %% tags=["exercise"]\ndef f(x):\n    return x\n\n# %%\nprint(1)\n'
    )
    assert [s.strip() for s in exercise_cells(source)] == ["def f(x):\n    return x"]
    import json

    notebook = tmp_path / "lesson.ipynb"
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["exercise"]}, "source": ["def g():\n", "    pass"]},
        {"cell_type": "code", "metadata": {}, "source": "print(2)"},
    ]
    notebook.write_text(json.dumps({"cells": cells}))
    assert exercise_cells(notebook) == ["def g():\n    pass"]
