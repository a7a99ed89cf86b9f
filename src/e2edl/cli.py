"""The ``e2edl`` command: ``list``, ``run``, ``course``, ``check`` and ``data``.

``e2edl run NAME --nproc N`` runs the lesson in N processes under ``torchrun`` (``e2edl.launch``);
``torchrun ... -m e2edl run NAME`` does the same by hand, on one machine or several.

Exit codes: 0 everything claimed holds; 1 a claim failed or training diverged; 2 bad input
(unknown lesson, data that cannot be had, a device that is not there).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from e2edl import __version__


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="less data and fewer epochs; looser claims")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/NAME or runs/course-MODE)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N, mps or auto (default: auto)")
    parser.add_argument("--epochs", type=int, help="override the lesson's number of epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    parser.add_argument(
        "--tensorboard", action="store_true", help="also log to TensorBoard in the run folder"
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    parser.add_argument(
        "--strict-timing",
        action="store_true",
        help="a missed timing claim fails the run too (for the reference machine's full run)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="e2edl", description="Deep Learning from End to End")
    parser.add_argument("--version", action="version", version=f"e2edl {__version__}")
    parser.add_argument("--mirror", type=Path, help="folder holding data files under their original names")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="the lessons, their data and their claims")

    run = sub.add_parser("run", help="run one lesson's experiment and check its claims")
    run.add_argument("name", help="lesson name or number (see `e2edl list`)")
    _add_run_options(run)
    run.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="train with N processes on this machine (runs this command under torchrun: DDP)",
    )

    course = sub.add_parser("course", help="run every lesson and write report.md")
    _add_run_options(course)
    course.add_argument("--only", nargs="+", metavar="NAME", help="run only these lessons")
    course.add_argument(
        "--readme",
        type=Path,
        help="rewrite this README's results table and record the full run (full mode only)",
    )
    course.add_argument(
        "--record",
        action="store_true",
        help="record this run as the reference machine's (e2edl/results/MODE.json, committed)",
    )
    course.add_argument(
        "--reuse",
        action="store_true",
        help="keep each lesson's finished result.json already in --out (same mode); run only the others",
    )

    check = sub.add_parser("check", help="check your answers to a lesson's exercises")
    check.add_argument("name", help="lesson name or number (see `e2edl list`)")
    check.add_argument(
        "--notebook",
        type=Path,
        help="your copy of the lesson (.ipynb or .py); default notebooks/NN_name.ipynb",
    )

    data = sub.add_parser("data", help="list, fetch or verify the data sets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    data_sub.add_parser("list", help="each data set, its size and whether it is cached")
    fetch = data_sub.add_parser("fetch", help="put a data set in the cache (cache → mirror → internet)")
    fetch.add_argument("names", nargs="+", metavar="NAME")
    verify = data_sub.add_parser("verify", help="re-check the SHA-256 of cached files")
    verify.add_argument("names", nargs="*", metavar="NAME")
    return parser


class CLIError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def _config_options(args: argparse.Namespace) -> dict:
    from e2edl.train import pick_device

    try:
        pick_device(args.device)
    except ValueError as error:
        raise CLIError(error) from None
    if args.epochs is not None and args.epochs < 1:
        raise CLIError(f"--epochs must be at least 1, got {args.epochs}")
    return dict(
        device=args.device,
        epochs=args.epochs,
        seed=args.seed,
        resume=args.resume,
        progress=args.progress,
        tensorboard=args.tensorboard,
    )


def cmd_list(args: argparse.Namespace) -> int:
    from e2edl.course import all_lessons

    for lesson in all_lessons():
        data = ", ".join(lesson.datasets) or "no data set"
        print(f"{lesson.number:02d} {lesson.name:<22} {lesson.title}  [{data}]")
        for claim in lesson.claims:
            quick = "not claimed" if claim.quick is None else format(claim.quick, "g")
            kind = " [timing: reference machine]" if claim.kind == "timing" else ""
            print(
                f"     {claim.metric} {claim.op} {format(claim.full, 'g')} (quick: {quick}){kind}"
                + (f"  — {claim.text}" if claim.text else "")
            )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from e2edl.course import RunConfig, get_lesson, run_lesson
    from e2edl.train.distributed import launched_by_torchrun

    lesson = get_lesson(args.name)
    if args.nproc < 1:
        raise CLIError(f"--nproc must be at least 1, got {args.nproc}")
    if args.nproc > 1 and not launched_by_torchrun():  # under torchrun already: we are a worker
        from e2edl.launch import relaunch

        return relaunch(args.argv, args.nproc)
    out = args.out or Path("runs") / lesson.name
    if args.resume and not (out / "result.json").exists() and not out.exists():
        print(f"note: {out} does not exist yet; starting from scratch")
    result = run_lesson(lesson.name, RunConfig(out=out, quick=args.quick, **_config_options(args)))
    return 0 if result.passed(args.strict_timing) else 1


def cmd_course(args: argparse.Namespace) -> int:
    from e2edl.course import get_lesson
    from e2edl.course.reference import write_reference
    from e2edl.course.report import README_BEGIN, course_passed, run_course, update_readme

    mode = "quick" if args.quick else "full"
    out = args.out or Path("runs") / f"course-{mode}"
    if args.readme and args.quick:
        raise CLIError("the README's results table comes from a full run; drop --quick")
    if args.readme and not args.readme.is_file():
        raise CLIError(f"{args.readme} does not exist")
    if args.readme and README_BEGIN not in args.readme.read_text():
        raise CLIError(f"{args.readme} has no results block (a line {README_BEGIN})")
    only = [get_lesson(name).name for name in args.only] if args.only else None
    results = run_course(out, args.quick, only=only, reuse=args.reuse, **_config_options(args))
    if args.readme:
        update_readme(args.readme, results, args.quick)
        print(f"results table in {args.readme} updated; full run recorded")
    elif args.record:
        print(f"recorded as the reference machine's {mode} run in {write_reference(results)}")
    ok = course_passed(results, args.strict_timing)
    print(f"\n{'every claim holds' if ok else 'SOME CLAIMS FAILED'}; report: {out / 'report.md'}")
    return 0 if ok else 1


def cmd_check(args: argparse.Namespace) -> int:
    from e2edl.course import get_lesson
    from e2edl.exercises.cells import NotebookUnreadable, check_file

    lesson = get_lesson(args.name)
    path = args.notebook or Path(lesson.notebook)
    try:
        verdicts = check_file(lesson.name, path)
    except NotebookUnreadable as error:
        raise CLIError(error) from None
    for verdict in verdicts:
        print(verdict)
    failed = sum(not v.ok for v in verdicts)
    print(f"{len(verdicts) - failed} of {len(verdicts)} exercises of {lesson.name} pass ({path})")
    return 1 if failed else 0


def cmd_data(args: argparse.Namespace) -> int:
    from e2edl import data

    if args.data_command == "list":
        for row in data.status():
            cached = "cached" if row.cached else "-"
            print(f"{row.name:<16} {row.size / 1e6:8.1f} MB  {cached:<7} {row.description}")
        return 0
    if args.data_command == "fetch":
        for name in args.names:
            folder = data.fetch(name, mirror=args.mirror)
            print(f"{name}: ready in {folder}")
        return 0
    rows = [row for name in (args.names or [None]) for row in data.verify(name)]
    for row in rows:
        print(f"{row.dataset:<16} {row.file:<40} {row.status:<8} {row.message}")
    return 0 if all(row.status in ("ok", "missing") for row in rows) else 1


COMMANDS = {"list": cmd_list, "run": cmd_run, "course": cmd_course, "check": cmd_check, "data": cmd_data}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # `run --nproc N` starts the same command again under torchrun
    if args.mirror is not None:
        os.environ["E2EDL_MIRROR"] = str(args.mirror.resolve())

    from e2edl.course import UnknownLesson
    from e2edl.data import DataUnavailable, IDXError, UnknownDataset, UnsafeArchive
    from e2edl.nn.model_files import ModelFolderError
    from e2edl.train import CheckpointError, TrainingDiverged

    try:
        return COMMANDS[args.command](args)
    except (
        CLIError,
        CheckpointError,
        UnknownLesson,
        UnknownDataset,
        DataUnavailable,
        IDXError,
        UnsafeArchive,
        ModelFolderError,
    ) as error:
        print(f"e2edl: error: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"e2edl: training diverged: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ne2edl: interrupted; `--resume` continues from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
