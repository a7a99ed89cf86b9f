"""``e2edl check LESSON``: run the exercise cells of the learner's copy of a lesson, then the checks.

Exercise cells are the code cells tagged ``exercise`` (in a lesson source: ``# %% tags=["exercise"]``).
Each holds its own imports and the function(s) the learner writes, so they run on their own, in
seconds, without the rest of the notebook (which may train for minutes).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from e2edl.exercises.exercise import Verdict, exercises_for, run_check

_PERCENT_CELL = re.compile(r"^# %%(.*)$")
_TAGS = re.compile(r"tags\s*=\s*\[([^\]]*)\]")


class NotebookUnreadable(ValueError):
    """The learner's file cannot be read as a notebook or a lesson source; the message says why."""


def exercise_cells(path: Path) -> list[str]:
    """The source of every code cell tagged ``exercise`` in a notebook (``.ipynb``) or lesson source (``.py``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotebookUnreadable(
            f"no file {path}; pass --notebook with the path of your copy of the lesson"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise NotebookUnreadable(f"{path} cannot be read ({error})") from None
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text)["cells"]
        except (ValueError, KeyError, TypeError):
            raise NotebookUnreadable(f"{path} is not a Jupyter notebook (not JSON with cells)") from None
        return [
            "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for cell in cells
            if cell.get("cell_type") == "code" and "exercise" in cell.get("metadata", {}).get("tags", [])
        ]
    sources, current, tagged = [], [], False
    for line in text.splitlines():
        match = _PERCENT_CELL.match(line)
        if match:
            if tagged:
                sources.append("\n".join(current))
            header = match.group(1)
            tags = _TAGS.search(header)
            tagged = "[markdown]" not in header and bool(tags) and '"exercise"' in tags.group(1)
            current = []
        else:
            current.append(line)
    if tagged:
        sources.append("\n".join(current))
    return sources


def check_file(lesson: str, path: Path) -> list[Verdict]:
    """Run ``path``'s exercise cells in a fresh namespace, then every check of ``lesson`` on what they define."""
    exercises = exercises_for(lesson)
    if not exercises:
        raise NotebookUnreadable(f"lesson {lesson!r} has no exercises yet")
    namespace: dict = {"__name__": "__exercises__"}
    problems = []
    for index, source in enumerate(exercise_cells(path), start=1):
        try:
            exec(compile(source, f"<exercise cell {index}>", "exec"), namespace)
        except Exception as error:  # a learner's cell that does not even run is a verdict, not a crash
            problems.append(f"exercise cell {index} does not run: {type(error).__name__}: {error}")
    verdicts = []
    for exercise in exercises:
        fn = namespace.get(exercise.function)
        if fn is None:
            why = "; ".join(problems) or "no exercise cell defines it"
            verdicts.append(Verdict(exercise.name, False, f"`{exercise.function}` is not defined ({why})."))
        else:
            verdicts.append(run_check(exercise, fn))
    return verdicts
