"""The layout tells the truth: imports only go down the floors, and nothing imports an experiment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "e2edl"
GROUND = (
    "data",
    "nn",
    "autograd",
    "train",
    "figures",
    "compression",
    "atomic",
    "progress",
    "distributed",
    "runtime",
)
ABOVE = ("recipes", "experiments", "course", "exercises", "cli")


def imported_e2edl_modules(path: Path) -> set[str]:
    """Every ``e2edl.x`` a file imports (absolute imports only: the project uses no relative ones)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.split(".")[0] == "e2edl"}


def floor(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def files_of(*floors: str) -> list[Path]:
    found = []
    for name in floors:
        folder, single = PACKAGE / name, PACKAGE / f"{name}.py"
        found += sorted(folder.rglob("*.py")) if folder.is_dir() else [single] if single.is_file() else []
    return found


@pytest.mark.parametrize("path", files_of(*GROUND), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_ground_floor_imports_nothing_above_it(path: Path) -> None:
    above = {m for m in imported_e2edl_modules(path) if floor(m) in ABOVE}
    assert not above, f"{path.relative_to(ROOT)} imports {sorted(above)}"


@pytest.mark.parametrize("path", files_of("recipes"), ids=lambda p: p.name)
def test_recipes_import_only_the_ground_floor(path: Path) -> None:
    above = {m for m in imported_e2edl_modules(path) if floor(m) in ABOVE and floor(m) != "recipes"}
    assert not above, f"{path.relative_to(ROOT)} imports {sorted(above)}"


def test_nothing_imports_an_experiment() -> None:
    """Experiments are reached only through the registry (by name); tests, benchmarks, notebooks,
    recipes and other experiments import the library instead."""
    paths = [p for p in ROOT.glob("*/**/*.py") if ".venv" not in p.parts and "solutions" not in p.parts]
    offenders = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p in paths
        for m in imported_e2edl_modules(p)
        if floor(m) == "experiments"
    ]
    assert offenders == []


def test_the_readme_lists_every_lesson_with_its_colab_link() -> None:
    """The README's lesson table and Colab links follow the registry: a new lesson adds its row."""
    from e2edl.course.registry import all_lessons

    readme = (ROOT / "README.md").read_text()
    for lesson in all_lessons():
        assert f"| {lesson.number:02d} | `{lesson.name}` |" in readme, f"README: no row for {lesson.name}"
        assert f"/notebooks/{lesson.stem}.ipynb)" in readme, f"README: no Colab link for {lesson.stem}"
