"""Turn ``lessons/NN_name.py`` (jupytext percent format) into ``notebooks/NN_name.ipynb``, or check they agree.

    python tools/notebooks.py build   # what `make notebooks` runs
    python tools/notebooks.py check   # exit 1 and name the notebooks that drifted from their source

Notebooks are committed without outputs; the lesson source is the only thing anyone edits.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
LESSONS, NOTEBOOKS = ROOT / "lessons", ROOT / "notebooks"


def lesson_sources() -> list[Path]:
    return sorted(p for p in LESSONS.glob("[0-9][0-9]_*.py"))


def notebook_for(source: Path) -> Path:
    return NOTEBOOKS / f"{source.stem}.ipynb"


def render(source: Path) -> nbformat.NotebookNode:
    """The notebook a lesson source turns into, outputs empty."""
    notebook = jupytext.read(source, fmt="py:percent")
    notebook.metadata.pop("jupytext", None)  # no pairing info: the .ipynb is a build product
    notebook.metadata.setdefault(
        "kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"}
    )
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:03d}"  # stable ids: rebuilding an unchanged lesson changes nothing
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return notebook


def cells(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


def stale() -> list[str]:
    """Lessons whose committed notebook is missing or differs from what the source renders to."""
    problems = []
    for source in lesson_sources():
        target = notebook_for(source)
        if not target.exists():
            problems.append(f"{target.relative_to(ROOT)} is missing")
            continue
        committed = nbformat.read(target, as_version=4)
        if cells(committed) != cells(render(source)):
            problems.append(f"{target.relative_to(ROOT)} differs from {source.relative_to(ROOT)}")
        elif any(c.get("outputs") for c in committed.cells if c.cell_type == "code"):
            problems.append(f"{target.relative_to(ROOT)} has outputs; notebooks are committed without them")
    return problems


def build() -> None:
    NOTEBOOKS.mkdir(exist_ok=True)
    for source in lesson_sources():
        target = notebook_for(source)
        tmp = target.with_suffix(".ipynb.tmp")
        nbformat.write(render(source), tmp)
        tmp.replace(target)
        print(f"{source.relative_to(ROOT)} -> {target.relative_to(ROOT)}")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "build"
    if command == "build":
        build()
    elif command == "check":
        problems = stale()
        print("\n".join(problems) or "notebooks are in sync with lessons/")
        sys.exit(1 if problems else 0)
    else:
        sys.exit("usage: python tools/notebooks.py build|check")
