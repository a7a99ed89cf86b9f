"""Run one lesson's experiment, check its claims, write ``result.json`` and print the verdict."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from e2edl.atomic import write_json
from e2edl.figures import save_figure
from e2edl.lessons.lesson import RunConfig
from e2edl.lessons.registry import get_lesson


def run_lesson(name: str, cfg: RunConfig | None = None, *, echo: bool = True, **options) -> dict:
    """Run lesson ``name`` and return its result (also written to ``cfg.out / "result.json"``).

    Either pass a ``RunConfig`` or its fields as keywords, e.g.
    ``run_lesson("linear-regression", quick=True, out="runs/02")``. Notebooks call this in their
    last cells, and ``e2edl run`` calls exactly the same function.
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
    figures = [save_figure(fig, cfg.out / name).name for name, fig in outcome.get("figures", {}).items()]
    result = {
        "lesson": lesson.name,
        "mode": cfg.mode,
        "seconds": round(seconds, 2),
        "finished": dt.datetime.now().isoformat(timespec="seconds"),
        "metrics": metrics,
        "claims": [claim.check(metrics, cfg.quick) for claim in lesson.claims if claim.applies(cfg.quick)],
        "figures": figures,
        "tables": list(outcome.get("tables", [])),
        "details": {k: v for k, v in outcome.items() if k not in ("metrics", "figures", "tables")},
    }
    write_json(cfg.out / "result.json", result)
    if echo:
        print(format_result(result, cfg.out / "result.json"))
    return result


def passed(result: dict) -> bool:
    return all(claim["ok"] for claim in result["claims"])


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_result(result: dict, path: Path | None = None) -> str:
    """A small plain-text table of measured vs claimed."""
    rows = [("claim", "measured", "needed", "ok")]
    for claim in result["claims"]:
        rows.append(
            (
                claim["metric"],
                format_value(claim["value"]),
                f"{claim['op']} {format_value(claim['threshold'])}",
                "yes" if claim["ok"] else "NO",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"{result['lesson']} ({result['mode']} mode, {result['seconds']:.1f} s)"]
    for i, row in enumerate(rows):
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    verdict = "all claims hold" if passed(result) else "SOME CLAIMS FAILED"
    lines.append(f"  {verdict}" + (f"; result written to {path}" if path else ""))
    return "\n".join(lines)
