"""The lesson registry, claims, result.json, the CLI path and the course report."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from e2edl import cli
from e2edl.course import Claim, Lesson, RunConfig, UnknownLesson, all_lessons, get_lesson, run_lesson
from e2edl.course import registry as registry_module
from e2edl.course.report import README_BEGIN, README_END, run_course, update_readme

ROOT = Path(__file__).resolve().parents[1]


def test_every_lesson_has_its_source_and_notebook() -> None:
    lessons = all_lessons()
    assert [lesson.number for lesson in lessons] == list(range(1, len(lessons) + 1))
    assert len({lesson.name for lesson in lessons}) == len(lessons)
    for lesson in lessons:
        assert (ROOT / lesson.source).is_file(), lesson.source
        assert (ROOT / lesson.notebook).is_file(), lesson.notebook
        assert lesson.claims, f"{lesson.name} claims nothing"
        source = (ROOT / lesson.source).read_text()
        assert f'run_lesson("{lesson.name}"' in source, f"{lesson.source} must end by calling run_lesson"


def test_lookup_by_name_number_and_stem() -> None:
    assert get_lesson("linear-regression").number == 2
    assert get_lesson("2").name == get_lesson("02_linear_regression").name == "linear-regression"
    with pytest.raises(UnknownLesson, match="did you mean linear-regression"):
        get_lesson("linear-regresion")


def test_a_lesson_is_found_without_importing_the_others() -> None:
    """A notebook's set-up, run_lesson and exercise checks pay for their own experiment's imports
    only (lesson 1's alone imports scikit-learn, seconds on a laptop)."""
    code = (
        "import sys; from e2edl.course import get_lesson; "
        "names = [get_lesson(n).name for n in ('linear-regression', '2', '02_linear_regression', 'linear_regression')]; "
        "from e2edl.exercises import exercises_for; exercises_for('linear-regression'); "
        "print(names, sorted(m for m in sys.modules if m.startswith('e2edl.experiments.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert (
        out.strip() == "['linear-regression', 'linear-regression', 'linear-regression', 'linear-regression'] "
        "['e2edl.experiments.linear_regression']"
    ), out


def test_every_lesson_is_named_after_its_module() -> None:
    """The convention get_lesson relies on to import one module: the name is the module's, with dashes."""
    from e2edl.course.registry import COURSE_ORDER

    assert [lesson.name for lesson in all_lessons()] == [m.replace("_", "-") for m in COURSE_ORDER]


@pytest.mark.parametrize(
    ("op", "value", "ok"),
    [
        (">=", 0.95, True),
        (">=", 0.9499, False),
        ("<=", 1e-7, True),
        ("<=", float("nan"), False),
        ("<=", None, False),
    ],
)
def test_claim_check(op: str, value, ok: bool) -> None:
    threshold = 0.95 if op == ">=" else 1e-6
    claim = Claim("m", op, quick=threshold, full=threshold)
    metrics = {} if value is None else {"m": value}
    assert claim.check(metrics, quick=True)["ok"] is ok


def test_claim_thresholds_differ_by_mode() -> None:
    claim = Claim("acc", ">=", quick=0.9, full=0.98)
    assert claim.check({"acc": 0.95}, quick=True)["ok"]
    assert not claim.check({"acc": 0.95}, quick=False)["ok"]
    with pytest.raises(ValueError, match="claim op"):
        Claim("acc", "=>", 1, 1)


def fake_lesson(value: float, seconds: float = 10.0) -> Lesson:
    return Lesson(
        number=99,
        name="fake",
        title="A lesson that measures what it is told",
        datasets=(),
        claims=(
            Claim("score", ">=", quick=0.5, full=0.9),
            Claim("seconds_to_score", "<=", quick=None, full=20, kind="timing"),
        ),
        run=lambda cfg: {"metrics": {"score": value, "seconds_to_score": seconds}, "figures": {}},
    )


@pytest.mark.parametrize(("value", "code"), [(0.95, 0), (0.7, 1)])
def test_cli_run_exit_code_follows_the_claims(tmp_path, monkeypatch, capsys, value, code) -> None:
    monkeypatch.setattr(registry_module, "all_lessons", lambda: [fake_lesson(value)])
    assert cli.main(["run", "fake", "--out", str(tmp_path), "--no-progress"]) == code
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["claims"] == [
        {"metric": "score", "op": ">=", "threshold": 0.9, "value": value, "ok": code == 0, "kind": "value"},
        {
            "metric": "seconds_to_score",
            "op": "<=",
            "threshold": 20,
            "value": 10.0,
            "ok": True,
            "kind": "timing",
        },
    ]
    assert result["mode"] == "full"
    out = capsys.readouterr().out
    assert "score" in out and ("all claims hold" if code == 0 else "SOME CLAIMS FAILED") in out


def test_cli_bad_input_is_one_line_and_exit_2(capsys) -> None:
    assert cli.main(["run", "linear-regresion"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "did you mean linear-regression" in err
    assert cli.main(["run", "linear-regression", "--epochs", "0"]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err
    if not __import__("torch").cuda.is_available():
        assert cli.main(["run", "linear-regression", "--device", "cuda"]) == 2
        assert "use --device cpu" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_runs_a_real_lesson_end_to_end(tmp_path) -> None:
    """The installed command, in its own process, exactly as a user types it."""
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "e2edl",
        "run",
        "linear-regression",
        "--quick",
        "--out",
        str(out),
        "--no-progress",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "result.json").read_text())
    assert set(result) >= {"lesson", "mode", "seconds", "metrics", "claims"}
    assert result["lesson"] == "linear-regression" and result["mode"] == "quick"
    assert all(c["ok"] for c in result["claims"]) and len(result["claims"]) == len(get_lesson("2").claims)
    assert all((out / fig).is_file() for fig in result["figures"])
    assert (out / "sgd" / "metrics.jsonl").is_file() and (out / "sgd" / "checkpoint.pt").is_file()
    assert "linear-regression (quick mode" in proc.stdout


def test_cli_list_shows_every_lesson_and_claim(capsys) -> None:
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for lesson in all_lessons():
        assert lesson.name in out
        assert all(claim.metric in out for claim in lesson.claims)


def test_course_report_and_readme_table(tmp_path, monkeypatch) -> None:
    lessons = [fake_lesson(0.95)]
    monkeypatch.setattr(registry_module, "all_lessons", lambda: lessons)
    monkeypatch.setattr("e2edl.course.report.all_lessons", lambda: lessons)
    results = run_course(tmp_path, quick=False)
    report = (tmp_path / "report.md").read_text()
    assert "| fake | score | 0.95 | >= 0.9 | yes |" in report
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_BEGIN}\nold table\n{README_END}\nrest\n")
    reference = tmp_path / "full.json"
    update_readme(readme, results, quick=False, reference=reference)
    text = readme.read_text()
    assert "old table" not in text and "| fake | score | 0.95 |" in text and text.endswith("rest\n")
    assert "| yes (timing) |" in text and "reference machine" in text
    recorded = json.loads(reference.read_text())["lessons"]["fake"]
    assert recorded["metrics"]["score"] == 0.95 and recorded["machine"]["cores"] >= 1
    with pytest.raises(ValueError, match="full run"):
        update_readme(readme, results, quick=True)


def test_course_goes_on_after_a_lesson_crashes(tmp_path, monkeypatch) -> None:
    def crash(cfg: RunConfig) -> dict:
        raise RuntimeError("boom")

    broken = Lesson("broken", "Crashes", (), (Claim("x", ">=", 0, 0),), crash, number=98)
    lessons = [broken, fake_lesson(0.95)]
    monkeypatch.setattr(registry_module, "all_lessons", lambda: lessons)
    monkeypatch.setattr("e2edl.course.report.all_lessons", lambda: lessons)
    results = run_course(tmp_path, quick=True)
    assert [r["lesson"] for r in results] == ["broken", "fake"]
    assert (
        results[0]["error"] == "RuntimeError: boom"
        and "error: RuntimeError: boom" in (tmp_path / "report.md").read_text()
    )
    assert (tmp_path / "98_broken" / "error.txt").is_file()


def test_run_lesson_in_process_matches_claims_table(tmp_path) -> None:
    result = run_lesson("linear-regression", quick=True, out=tmp_path, progress=False, echo=False)
    assert result.metrics["gd_vs_least_squares"] < 1e-4
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["metrics"] == result.metrics and saved["machine"]["cpu"]
    assert saved["figures"] == [f"{name}.png" for name in result.figures]
    assert all((tmp_path / f).is_file() for f in saved["figures"])


def test_a_claim_without_quick_threshold_is_checked_in_full_mode_only(tmp_path, monkeypatch) -> None:
    timed = Lesson(
        "timed",
        "Timed",
        (),
        (Claim("accuracy", ">=", quick=None, full=0.9),),
        lambda cfg: {"metrics": {"accuracy": 0.5}},
        number=97,
    )
    monkeypatch.setattr(registry_module, "all_lessons", lambda: [timed])
    assert run_lesson("timed", quick=True, out=tmp_path / "q", echo=False).claims == []
    assert not run_lesson("timed", quick=False, out=tmp_path / "f", echo=False).claims[0]["ok"]


def test_course_only_accepts_numbers_and_rejects_unknown_names(tmp_path, capsys) -> None:
    assert cli.main(["course", "--only", "lesson-that-does-not-exist", "--out", str(tmp_path)]) == 2
    assert "unknown lesson" in capsys.readouterr().err
    assert cli.main(["course", "--readme", str(tmp_path / "missing.md"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_damaged_checkpoint_on_resume_is_exit_2(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "sgd").mkdir(parents=True)
    (tmp_path / "sgd" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert cli.main(["run", "linear-regression", "--quick", "--resume", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "delete it and run without --resume" in err


def test_course_reuse_keeps_finished_results_of_the_same_mode_and_runs_the_rest(
    tmp_path, monkeypatch
) -> None:
    calls = []

    def counted(score: float, number: int, name: str) -> Lesson:
        def run(cfg: RunConfig) -> dict:
            calls.append(name)
            return {"metrics": {"score": score}}

        return Lesson(name, name.title(), (), (Claim("score", ">=", 0.5, 0.9),), run, number=number)

    lessons = [counted(0.95, 97, "first"), counted(0.97, 98, "second")]
    monkeypatch.setattr(registry_module, "all_lessons", lambda: lessons)
    monkeypatch.setattr("e2edl.course.report.all_lessons", lambda: lessons)
    run_course(tmp_path, quick=False, only=["first"])
    run_course(tmp_path, quick=True, only=["second"])  # a quick result must not stand in for a full one
    assert calls == ["first", "second"]
    results = run_course(tmp_path, quick=False, reuse=True)
    assert calls == ["first", "second", "second"]  # first reused, second run in full mode
    assert [r["metrics"]["score"] for r in results] == [0.95, 0.97]
    assert all(r["mode"] == "full" and r["finished"] for r in results)
    assert "| first | score | 0.95 |" in (tmp_path / "report.md").read_text()


def test_a_missed_timing_claim_never_fails_a_run_unless_asked(tmp_path, monkeypatch, capsys) -> None:
    """A learner on a slower machine: the clock claim misses on purpose, yet the run passes."""
    monkeypatch.setattr(registry_module, "all_lessons", lambda: [fake_lesson(0.95, seconds=60.0)])
    assert cli.main(["run", "fake", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "timing; reference machine" in out and "a timing claim missed (not an error" in out
    result = run_lesson("fake", out=tmp_path / "again", echo=False)
    assert result.passed() and not result.passed(strict_timing=True)
    assert cli.main(["run", "fake", "--out", str(tmp_path), "--no-progress", "--strict-timing"]) == 1
    with pytest.raises(ValueError, match="full-mode only"):
        Claim("seconds", "<=", quick=30, full=20, kind="timing")


def test_a_lesson_hands_its_figures_and_tables_to_the_notebook(tmp_path, monkeypatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from e2edl.figures import Table

    def run(cfg: RunConfig) -> dict:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        table = Table([{"variant": "a", "accuracy": 0.912345}], formats={"accuracy": ".3f"})
        return {"metrics": {"score": 1.0}, "figures": {"curve.png": fig}, "tables": {"ablation": table}}

    lesson = Lesson("drawn", "Draws", (), (Claim("score", ">=", 0.5, 0.9),), run, number=96)
    monkeypatch.setattr(registry_module, "all_lessons", lambda: [lesson])
    result = run_lesson("drawn", quick=True, out=tmp_path, echo=False)
    assert set(result.figures) == {"curve"} and (tmp_path / "curve.png").is_file()
    assert "| a | 0.912 |" in result.tables["ablation"].to_markdown()
    assert (tmp_path / "ablation.md").read_text().startswith("| variant | accuracy |")
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["tables"]["ablation"]["rows"] == [{"variant": "a", "accuracy": 0.912345}]
    result.show("curve")  # outside a notebook: draws nothing, raises nothing
    with pytest.raises(KeyError, match="this run drew curve"):
        result.show("absent")


def test_full_run_is_shown_from_the_recorded_reference(tmp_path, monkeypatch) -> None:
    from e2edl.course import reference

    monkeypatch.setattr(registry_module, "all_lessons", lambda: [fake_lesson(0.95)])
    result = run_lesson("fake", out=tmp_path / "run", echo=False).to_json()
    path = tmp_path / "full.json"
    reference.write_reference([result], path)
    shown = reference.full_run("fake", path)
    text = shown.to_markdown()
    assert (
        "Full run of `fake` (not this notebook's run)" in text and "| score | 0.95 | >= 0.9 | yes |" in text
    )
    assert reference.reference_value("fake", "score", path) == 0.95
    assert "no full run of `other`" in reference.full_run("other", path)
    with pytest.raises(ValueError, match="one mode"):
        reference.write_reference([result, {**result, "mode": "quick"}], path)


def test_setup_lesson_reads_the_mode_and_names_the_run_folder(tmp_path, monkeypatch, capsys) -> None:
    from e2edl.course.notebook import setup_lesson

    monkeypatch.setenv("E2EDL_QUICK", "1")
    monkeypatch.setenv("E2EDL_RUNS", str(tmp_path))
    quick, out = setup_lesson("linear-regression")
    assert quick and out == tmp_path / "quick" / "02_linear_regression"
    assert "quick mode" in capsys.readouterr().out
    monkeypatch.delenv("E2EDL_QUICK")
    assert setup_lesson("linear-regression") == (False, tmp_path / "02_linear_regression")
    assert setup_lesson("linear-regression", quick=True)[1] == out
