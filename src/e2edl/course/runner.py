"""Run one lesson's experiment, check its claims, write ``result.json`` and print the verdict."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt

from e2edl.atomic import write_json, write_text
from e2edl.course.claims import counts
from e2edl.course.lesson import RunConfig
from e2edl.course.reference import reference_value
from e2edl.course.registry import get_lesson
from e2edl.figures import Table, format_number, save_figure, show
from e2edl.train.device import describe_machine
from e2edl.train.distributed import is_main


@dataclass
class LessonResult:
    """What a lesson run measured, checked and drew.

    ``figures`` and ``tables`` are the objects themselves (a notebook displays them with
    ``result.show()`` and ``result.tables[name]``); the run folder holds the same as PNG and
    Markdown files, and ``result.json`` holds everything but the figures' pixels.
    """

    lesson: str
    mode: str
    seconds: float
    finished: str
    metrics: dict
    claims: list[dict]
    figures: dict[str, plt.Figure] = field(default_factory=dict, repr=False)
    tables: dict[str, Table] = field(default_factory=dict, repr=False)
    details: dict = field(default_factory=dict, repr=False)
    machine: dict = field(default_factory=dict, repr=False)
    out: Path | None = None

    def passed(self, strict_timing: bool = False) -> bool:
        """Every value claim holds (and every timing claim too, with ``strict_timing``)."""
        return passed(self.to_json(), strict_timing)

    def show(self, *names: str) -> None:
        """Display the named figures (all of them when no name is given) in a notebook."""
        unknown = [name for name in names if name not in self.figures]
        if unknown:
            raise KeyError(f"no figure {unknown[0]!r}; this run drew {', '.join(self.figures)}")
        show(*(self.figures[name] for name in names or self.figures))

    def to_json(self) -> dict:
        return {
            "lesson": self.lesson,
            "mode": self.mode,
            "seconds": self.seconds,
            "finished": self.finished,
            "machine": self.machine,
            "metrics": self.metrics,
            "claims": self.claims,
            "figures": [f"{name}.png" for name in self.figures],
            "tables": {name: table.to_dict() for name, table in self.tables.items()},
            "details": self.details,
        }

    def __str__(self) -> str:
        return format_result(self.to_json(), self.out / "result.json" if self.out else None)


def run_lesson(name: str, cfg: RunConfig | None = None, *, echo: bool = True, **options) -> LessonResult:
    """Run lesson ``name``; return its :class:`LessonResult` (also written to ``cfg.out / "result.json"``).

    Either pass a ``RunConfig`` or its fields as keywords, e.g.
    ``run_lesson("linear-regression", quick=True, out="runs/02")``. Notebooks call this in their
    last cells, and ``e2edl run`` calls exactly the same function. With ``resume=True`` every
    training whose checkpoint in ``out`` is finished is reused rather than run again — which is how a
    notebook hands the models it trained in the open to the run.
    """
    lesson = get_lesson(name)
    if cfg is None:
        options.setdefault("out", Path("runs") / lesson.name)
        options["out"] = Path(options["out"])
        cfg = RunConfig(**options)
    elif options:
        raise TypeError("pass either a RunConfig or keyword options, not both")
    cfg.out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    outcome = lesson.run(cfg)
    seconds = time.perf_counter() - start

    metrics = outcome.get("metrics", {})
    figures = {_figure_name(name): fig for name, fig in outcome.get("figures", {}).items()}
    tables = outcome.get("tables", {})
    if not isinstance(tables, dict) or not all(isinstance(t, Table) for t in tables.values()):
        raise TypeError(f"{lesson.name}: an experiment returns its tables as {{name: Table}}")
    main = is_main()  # under torchrun every rank runs the lesson; rank 0 alone writes and prints
    for figure_name, fig in figures.items() if main else ():
        save_figure(fig, cfg.out / f"{figure_name}.png")
    for table_name, table in tables.items() if main else ():
        write_text(cfg.out / f"{table_name}.md", table.to_markdown() + "\n")
    result = LessonResult(
        lesson=lesson.name,
        mode=cfg.mode,
        seconds=round(seconds, 2),
        finished=dt.datetime.now().isoformat(timespec="seconds"),
        metrics=metrics,
        claims=[claim.check(metrics, cfg.quick) for claim in lesson.claims if claim.applies(cfg.quick)],
        figures=figures,
        tables=tables,
        details={k: v for k, v in outcome.items() if k not in ("metrics", "figures", "tables")},
        machine=describe_machine(),
        out=cfg.out,
    )
    if main:
        write_json(cfg.out / "result.json", result.to_json())
    if echo and main:
        print(result)
    return result


def _figure_name(name: str) -> str:
    return name[: -len(".png")] if name.endswith(".png") else name


def passed(result: dict | LessonResult, strict_timing: bool = False) -> bool:
    """Every claim that decides the verdict holds (timing claims only with ``strict_timing``)."""
    if isinstance(result, LessonResult):
        return result.passed(strict_timing)
    return all(claim["ok"] for claim in result["claims"] if counts(claim, strict_timing))


def format_result(result: dict, path: Path | None = None) -> str:
    """A small plain-text table of measured vs claimed; timing claims also show the reference's number."""
    rows = [("claim", "measured", "needed", "ok")]
    for claim in result["claims"]:
        ok = "yes" if claim["ok"] else "NO"
        if claim.get("kind") == "timing":
            reference = reference_value(result["lesson"], claim["metric"])
            ok = f"{ok} (timing; reference machine: {format_number(reference) if reference is not None else 'n/a'})"
        needed = f"{claim['op']} {format_number(claim['threshold'])}"
        rows.append((claim["metric"], format_number(claim["value"]), needed, ok))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"{result['lesson']} ({result['mode']} mode, {result['seconds']:.1f} s)"]
    for i, row in enumerate(rows):
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    if not passed(result):
        verdict = "SOME CLAIMS FAILED"
    elif not passed(result, strict_timing=True):
        verdict = "value claims hold; a timing claim missed (not an error: this machine is not the reference)"
    else:
        verdict = "all claims hold"
    lines.append(f"  {verdict}" + (f"; result written to {path}" if path else ""))
    return "\n".join(lines)
