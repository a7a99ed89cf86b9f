"""The course's runs on the reference machine, as committed data (``e2edl/results/{full,quick}.json``).

``e2edl course --readme README.md`` writes ``full.json`` together with the README's results table
(``e2edl course --quick --record`` writes ``quick.json``), so a notebook running in quick mode can
show what the full run reached — labelled as the full run's — instead of prose typing numbers no
cell prints; a timing claim measured elsewhere is put next to the reference machine's number; and
each notebook says at the top how long its two modes took there.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from e2edl.atomic import write_json
from e2edl.figures import Table, format_number
from e2edl.train.device import machine_summary

RESULTS = Path(__file__).resolve().parents[1] / "results"  # tests point this at a temporary folder


def _path(mode: str) -> Path:
    return RESULTS / f"{mode}.json"


@cache
def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {"lessons": {}}


def full_run_results(path: Path | None = None) -> dict[str, dict]:
    """Every lesson's full-run ``result.json`` (less its details), by lesson name."""
    return _load(path or _path("full"))["lessons"]


def recorded_seconds(lesson: str) -> dict[str, float]:
    """How long the reference machine took for ``lesson``: ``{"full": s, "quick": s}``, where recorded."""
    seconds = {}
    for mode in ("full", "quick"):
        value = _load(_path(mode))["lessons"].get(lesson, {}).get("seconds")
        if value is not None:
            seconds[mode] = value
    return seconds


def reference_value(lesson: str, metric: str, path: Path | None = None):
    """What the reference machine's full run measured for ``metric`` (``None`` if it never ran)."""
    return full_run_results(path).get(lesson, {}).get("metrics", {}).get(metric)


def write_reference(results: list[dict], path: Path | None = None) -> Path:
    """Merge these results into the committed file of their mode (lessons not run keep their entry)."""
    modes = {r.get("mode") for r in results}
    if len(modes) != 1 or not modes <= {"full", "quick"}:
        raise ValueError(f"record the results of one mode at a time, got {sorted(map(str, modes))}")
    path = path or _path(modes.pop())
    lessons = dict(full_run_results(path))
    for r in results:
        if "error" in r:
            continue
        lessons[r["lesson"]] = {k: r[k] for k in ("lesson", "mode", "seconds", "finished", "machine",
                                                  "metrics", "claims", "tables") if k in r}  # fmt: skip
    write_json(path, {"lessons": lessons})
    _load.cache_clear()
    return path


class FullRun:
    """One lesson's full run, for a notebook: ``full_run("vit")`` displays its claims and tables.

    >>> run = full_run("vit")           # doctest: +SKIP
    >>> run.metrics["pets_val_accuracy"]  # doctest: +SKIP
    """

    def __init__(self, lesson: str, data: dict) -> None:
        self.lesson, self.data = lesson, data
        self.metrics: dict = data.get("metrics", {})
        self.tables = {name: Table.from_dict(t) for name, t in data.get("tables", {}).items()}

    @property
    def header(self) -> str:
        machine = self.data.get("machine")
        where = machine_summary(machine) if machine else "a machine it did not record"
        return (
            f"Full run of `{self.lesson}` (not this notebook's run), finished "
            f"{self.data.get('finished', '(undated)')} on {where}, {self.data.get('seconds', 0):.0f} s"
        )

    def claims_table(self) -> Table:
        return Table(
            [
                {"claim": c["metric"], "measured": format_number(c["value"]),
                 "needed": f"{c['op']} {format_number(c['threshold'])}", "ok": "yes" if c["ok"] else "no"}
                for c in self.data.get("claims", [])
            ]
        )  # fmt: skip

    def to_markdown(self) -> str:
        parts = [self.header, "", self.claims_table().to_markdown()]
        for name, table in self.tables.items():
            parts += ["", f"*{name}* (full run)", "", table.to_markdown()]
        return "\n".join(parts)

    __str__ = to_markdown

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


class NoFullRun(str):
    """What ``full_run`` shows when the reference machine has not run the lesson in full yet."""

    def _repr_markdown_(self) -> str:
        return f"*{self}*"


def full_run(lesson: str, path: Path | None = None) -> FullRun | NoFullRun:
    """The full run of ``lesson`` to display; a one-line note if the reference has none yet."""
    data = full_run_results(path).get(lesson)
    if data is None:
        return NoFullRun(f"(no full run of `{lesson}` is recorded yet: `e2edl run {lesson}` makes one)")
    return FullRun(lesson, data)
