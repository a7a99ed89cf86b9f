"""The first cell of every lesson notebook: quick or full mode, where the run writes, what it costs.

    QUICK, OUT = setup_lesson("mnist-cnn")

Quick mode is on when ``E2EDL_QUICK=1`` (CI runs every notebook that way) or when asked for with
``setup_lesson("mnist-cnn", quick=True)``. Each mode has its own run folder — ``runs/NN_name`` for
the full run, ``runs/quick/NN_name`` for quick mode — so a model trained in one mode is never
mistaken for the other's (the same layout as ``e2edl course``, where lessons find their siblings).
"""

from __future__ import annotations

import os
from pathlib import Path

from e2edl.course.reference import recorded_seconds
from e2edl.course.registry import get_lesson


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def setup_lesson(name: str, seed: int = 0, quick: bool | None = None) -> tuple[bool, Path]:
    """Seed everything, print the lesson's mode and timings; return ``(QUICK, OUT)``.

    ``quick=None`` reads ``E2EDL_QUICK``. ``OUT`` is the lesson's run folder for that mode under
    ``$E2EDL_RUNS`` (default ``runs``): the models the notebook trains in the open are saved there,
    and ``run_lesson(..., out=OUT, resume=True)`` finds them instead of training them again.
    """
    from e2edl.train.seeding import seed_everything

    lesson = get_lesson(name)
    if quick is None:
        quick = os.environ.get("E2EDL_QUICK") == "1"
    runs = Path(os.environ.get("E2EDL_RUNS", "runs"))
    out = runs / "quick" / lesson.stem if quick else runs / lesson.stem
    seed_everything(seed)
    seconds = recorded_seconds(lesson.name)
    times = ", ".join(f"{mode} mode {_duration(s)}" for mode, s in sorted(seconds.items()))
    print(f"Lesson {lesson.number:02d} · {lesson.title} — {'quick' if quick else 'full'} mode; runs in {out}")
    if times:
        print(f"On the reference machine (see the README's results table): {times}.")
    other = "False" if quick else "True"
    print(f'To switch: setup_lesson("{lesson.name}", quick={other}), or E2EDL_QUICK=1 in the environment.')
    return quick, out


def show_source(obj) -> None:
    """Print the source of a library function or class, so the notebook shows the recipe it runs
    (in Jupyter, as a highlighted code block)."""
    import inspect

    source = inspect.getsource(obj)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        print(source)
        return
    if get_ipython() is None:
        print(source)
    else:
        display(Markdown(f"`{obj.__module__}.{obj.__qualname__}`\n\n```python\n{source}```"))
