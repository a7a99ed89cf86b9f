"""Ray Tune with ``fit`` as the trainable: a search on a two-node Ray cluster started with
``ray start`` (a head and a worker, two processes on this machine), a driver killed mid-search and
``Tuner.restore`` finishing it, the Slurm recipe for a Ray cluster with stand-in ``srun`` and
``scontrol``, and no Ray process left behind. Nothing reaches the network
(``RAY_USAGE_STATS_ENABLED=0``, the data from the mirror)."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from e2edl.recipes.tune_results import trial_rows

pytest.importorskip("ray")
pytest.importorskip("optuna")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "tune_search.py"
SBATCH = ROOT / "scripts" / "slurm" / "ray.sbatch"
RAY = Path(sys.executable).parent / "ray"
TOKEN = secrets.token_hex(32)  # Ray's clusters started by `ray start` check a token on every call
SMALL = ["--images", "3000", "--epochs", "4", "--trials", "4", "--search", "random"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra: str) -> dict:
    values = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1", "E2EDL_PROGRESS": "0",
              "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN}  # fmt: skip
    values["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    values.pop("RAY_ADDRESS", None)
    return {**values, **extra}


def processes_mentioning(text: str) -> list[int]:
    """Ids of the processes whose command line contains ``text`` (our Ray's temp folder)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group we started (``ray start --block`` stops its node), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_until_gone(temp_dir: str, seconds: float = 30) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := processes_mentioning(temp_dir)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


@pytest.fixture(scope="module")
def cluster():
    """A Ray head (no CPUs for trials: it coordinates) and a worker node with two CPUs, started
    with ``ray start --block`` as two process groups we own; stopped (and checked gone) at the end."""
    temp_dir = tempfile.mkdtemp(prefix="r", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = free_port()
    common = ["--block", "--disable-usage-stats", "--node-ip-address", "127.0.0.1"]

    def node_ports() -> list[str]:
        return ["--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
                "--metrics-export-port", str(free_port()), "--runtime-env-agent-port", str(free_port())]  # fmt: skip

    head = subprocess.Popen(
        [
            str(RAY),
            "start",
            "--head",
            "--port",
            str(port),
            "--temp-dir",
            temp_dir,
            "--include-dashboard",
            "false",
            "--ray-client-server-port",
            str(free_port()),
            "--num-cpus",
            "0",
            *node_ports(),
            *common,
        ],  # fmt: skip
        env=env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    nodes = [head]
    address = f"127.0.0.1:{port}"
    try:
        _wait_for_nodes(address, 1)
        nodes.append(subprocess.Popen(
            [str(RAY), "start", "--address", address, "--num-cpus", "2", *node_ports(), *common],
            env=env(), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        _wait_for_nodes(address, 2)
        yield address
    finally:
        for node in reversed(nodes):
            stop_group(node)
        for pid in wait_until_gone(temp_dir, 10):  # ours: they run in our temp folder
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        left = wait_until_gone(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert left == [], f"Ray processes left running: {left}"


def _wait_for_nodes(address: str, count: int, seconds: float = 120) -> None:
    probe = f"import ray; ray.init(address={address!r}, log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(2)
        try:  # a probe that starts before the head answers may wait long for it: try again
            done = subprocess.run(
                [sys.executable, "-c", probe], env=env(), capture_output=True, text=True, timeout=60
            )
        except subprocess.TimeoutExpired:
            continue
        if done.returncode == 0 and int(done.stdout.split()[-1]) >= count:
            return
    raise AssertionError(f"the Ray cluster at {address} did not reach {count} nodes")


def driver_command(address: str, storage: Path, *args: str) -> list[str]:
    return [sys.executable, str(SCRIPT), "--address", address, "--storage", str(storage), *SMALL, *args]


def driver(address: str, storage: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(driver_command(address, storage, *args), env=env(), cwd=ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


def finish(process: subprocess.Popen, seconds: float = 400) -> dict:
    try:
        output, _ = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        stop_group(process)
        raise
    assert process.returncode == 0, output[-4000:]
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def trial_results(storage: Path) -> dict[str, list[dict]]:
    """Each trial's results as the driver wrote them, over every search under ``storage``."""
    return {name: rows for search in sorted(storage.iterdir()) if search.is_dir()
            for name, rows in trial_rows(search).items()}  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_search_runs_on_the_two_node_cluster(cluster: str, tmp_path: Path) -> None:
    summary = finish(driver(cluster, tmp_path / "tune", "--trials", "2", "--epochs", "2"))
    assert summary["nodes"] == 2 and summary["trials"] == 2 and summary["trial_epochs"] == 4
    [worker] = [node for node, cpus in summary["cpus_by_node"].items() if cpus == 2]
    nodes = {row["node"] for rows in trial_results(tmp_path / "tune").values() for row in rows}
    assert nodes == {worker}, f"trials ran on {nodes}, the worker node is {worker}"  # the head has no CPU


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_killed_driver_is_restored_and_the_search_finishes(cluster: str, tmp_path: Path) -> None:
    from e2edl.recipes.search_driver import kill_at_first_epoch

    storage = tmp_path / "tune"
    # SIGKILL the driver (its process group) once the saved state holds every epoch the trials reported
    kill_at_first_epoch(driver_command(cluster, storage), storage / "random-seed0", env=env(), timeout=300)
    before = {name: len(rows) for name, rows in trial_results(storage).items()}
    assert sum(before.values()) < 16, "the search had finished before the kill"

    summary = finish(driver(cluster, storage))  # same command: it finds the search and restores it
    assert summary["trials"] == 4 and summary["trial_epochs"] == 16
    after = trial_results(storage)
    assert len(after) == 4
    for name, rows in after.items():
        iterations = [row["training_iteration"] for row in rows]
        assert iterations == [1, 2, 3, 4], f"{name}: {iterations}"
        # fit's own epoch count agrees with Tune's: an interrupted trial resumed from its
        # checkpoint instead of training again from scratch
        assert [row["epoch"] for row in rows] == iterations, name
    interrupted = [name for name, count in before.items() if 0 < count < 4]
    assert interrupted, f"no trial was caught mid-way: {before}"


SRUN = """#!/bin/bash
# Stand-in srun for one-node steps (`srun --nodes=1 --ntasks=1 -w HOST CMD...`): runs CMD here. A
# `ray start` gets ports of its own, as if each "node" were another machine, and the head the test's
# temp folder (to find every process it leaves).
args=()
skip=0
for arg in "$@"; do
    if (( skip )); then skip=0; continue; fi
    case "$arg" in
        -w) skip=1 ;;
        --nodes=*|--ntasks=*|-w*) ;;
        *) args+=("$arg") ;;
    esac
done
if [ "${args[0]}" = ray ] && [ "${args[1]}" = start ]; then
    port() { python -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'; }
    args+=(--dashboard-agent-listen-port "$(port)" --dashboard-agent-grpc-port "$(port)"
           --metrics-export-port "$(port)" --runtime-env-agent-port "$(port)")
    for arg in "${args[@]}"; do
        [ "$arg" = --head ] && args+=(--temp-dir "$RAY_TEST_TEMP_DIR" --ray-client-server-port "$(port)")
    done
fi
exec "${args[@]}"
"""

SCONTROL = """#!/bin/bash
[ "$1 $2" = "show hostnames" ] || { echo "stand-in scontrol knows only 'show hostnames'" >&2; exit 1; }
for (( node = 0; node < SLURM_JOB_NUM_NODES; node++ )); do echo localhost; done
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_slurm_script_starts_a_two_node_ray_cluster_and_stops_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {"srun": SRUN, "scontrol": SCONTROL}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    temp_dir = tempfile.mkdtemp(prefix="r", dir="/tmp")
    command = [sys.executable, str(SCRIPT), "--address", "auto", "--storage", str(tmp_path / "tune"),
               *SMALL[:-2], "--trials", "2", "--epochs", "1"]  # fmt: skip
    variables = env(PATH=f"{bin_dir}{os.pathsep}{RAY.parent}{os.pathsep}{os.environ['PATH']}",
                    SLURM_JOB_ID="4242", SLURM_JOB_NODELIST="node[01-02]", SLURM_JOB_NUM_NODES="2",
                    SLURM_CPUS_PER_TASK="1", E2EDL_RAY_PORT=str(free_port()), RAY_TEST_TEMP_DIR=temp_dir)  # fmt: skip
    for name in ("RAY_AUTH_TOKEN", "OMP_NUM_THREADS"):
        del variables[name]  # the script makes them
    job = subprocess.Popen(["bash", str(SBATCH), *command], env=variables, cwd=ROOT, start_new_session=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        output, _ = job.communicate(timeout=500)
    finally:
        stop_group(job)
        left = wait_until_gone(temp_dir)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert job.returncode == 0, output[-4000:]
    assert "all 2 Ray nodes are up" in output
    summary = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    assert summary["nodes"] == 2 and summary["trials"] == 2
    assert left == [], f"Ray processes left running after the job: {left}"


def test_the_slurm_script_without_a_command_says_how_to_use_it() -> None:
    done = subprocess.run(["bash", str(SBATCH)], capture_output=True, text=True, env=env(), timeout=30)
    assert done.returncode == 2 and "usage: sbatch" in done.stderr


def test_the_budget_counts_each_trial_epoch_once_and_reads_the_disk_after_a_restore(tmp_path: Path) -> None:
    from ray import cloudpickle  # how Tune pickles the Tuner (stopper included) into tuner.pkl

    from e2edl.recipes.hyperparameter_tuning import trial_epoch_budget

    stopper = trial_epoch_budget(5, tmp_path)
    for trial, iteration in [("a", 1), ("b", 1), ("a", 2), ("a", 2)]:  # Tune hands a last result over twice
        stopper(trial, {"training_iteration": iteration})
    assert not stopper.stop_all()  # 3 epochs of 5
    stopper("b", {"training_iteration": 2})
    stopper("c", {"training_iteration": 1})
    assert stopper.stop_all()

    # A restore unpickles the stopper as it was when the search started: empty. It reads what the
    # killed driver wrote (a line cut short by the kill is skipped) and spends only the rest.
    for trial, iterations in {"a": [1, 2], "b": [1]}.items():
        folder = tmp_path / f"trial_{trial}"
        folder.mkdir()
        lines = [json.dumps({"trial_id": trial, "training_iteration": i, "epoch": i}) for i in iterations]
        (folder / "result.json").write_text("\n".join(lines) + '\n{"trial_id": "b", "train')
    restored = cloudpickle.loads(cloudpickle.dumps(trial_epoch_budget(5, tmp_path)))
    restored("b", {"training_iteration": 2})  # b resumed from its checkpoint: its second epoch
    assert not restored.stop_all()  # a: 2, b: 2
    restored("d", {"training_iteration": 1})
    assert restored.stop_all()
    fresh = trial_epoch_budget(5)  # without a folder it counts only what it is handed
    fresh("d", {"training_iteration": 1})
    assert not fresh.stop_all()


def state_entry(trial_id: str, iteration: int | None) -> list[str]:
    """A trial's entry in Tune's saved state: its checkpoint manager pickled, as hex, whose newest
    checkpoint result carries the training iteration (``None``: no checkpoint yet)."""
    latest = None if iteration is None else SimpleNamespace(metrics={"training_iteration": iteration})
    manager = pickle.dumps(SimpleNamespace(_latest_checkpoint_result=latest))
    metadata = {"checkpoint_manager": {"_type": "CLOUDPICKLE_FALLBACK", "value": manager.hex()}}
    return [json.dumps({"trial_id": trial_id}), json.dumps(metadata)]


def report(experiment: Path, folder: str, trial_id: str, iterations: int) -> None:
    (experiment / folder).mkdir(exist_ok=True)
    lines = [json.dumps({"trial_id": trial_id, "training_iteration": i}) for i in range(1, iterations + 1)]
    (experiment / folder / "result.json").write_text("\n".join(lines) + "\n")


def test_the_kill_waits_until_the_saved_state_holds_every_reported_epoch(tmp_path: Path) -> None:
    from e2edl.recipes.search_driver import checkpointed_iterations, state_holds_every_reported_epoch

    assert checkpointed_iterations(tmp_path) is None  # nothing saved yet
    assert not state_holds_every_reported_epoch(tmp_path)
    report(tmp_path, "trial_a", "a", 1)
    report(tmp_path, "trial_b", "b", 1)
    state = tmp_path / "experiment_state-2026-12-02_01-00-00.json"
    state.write_text(json.dumps({"trial_data": [state_entry("a", None), state_entry("b", None)]}))
    assert checkpointed_iterations(tmp_path) == {"a": 0, "b": 0}
    assert not state_holds_every_reported_epoch(tmp_path)  # both reported, neither checkpoint saved
    newer = tmp_path / "experiment_state-2026-12-02_01-00-10.json"  # the newest state is read
    newer.write_text(json.dumps({"trial_data": [state_entry("a", 1), state_entry("b", None)]}))
    assert not state_holds_every_reported_epoch(tmp_path)  # b's epoch would be trained again
    newer.write_text(json.dumps({"trial_data": [state_entry("a", 1), state_entry("b", 1)]}))
    assert state_holds_every_reported_epoch(tmp_path)
    report(tmp_path, "trial_a", "a", 2)  # a reports again before the next save
    assert not state_holds_every_reported_epoch(tmp_path)
    newer.write_text(json.dumps({"trial_data": [state_entry("a", 1)]})[:-5])  # being written
    assert checkpointed_iterations(tmp_path) is None
    assert not state_holds_every_reported_epoch(tmp_path)


def test_retrained_epochs_are_counted(tmp_path: Path) -> None:
    from e2edl.recipes.search_driver import resumed_from_checkpoints

    rows = {
        "t0": [(1, 1), (2, 2)],
        "t1": [(1, 1), (1, 1), (2, 2)],
        "t2": [(1, 1), (1, 2)],
    }  # (epoch, iteration)
    for trial, pairs in rows.items():
        (tmp_path / trial).mkdir()
        lines = [json.dumps({"epoch": e, "training_iteration": i}) for e, i in pairs]
        (tmp_path / trial / "result.json").write_text("\n".join(lines) + "\n")
    seen = resumed_from_checkpoints(tmp_path)
    assert seen["trial_epochs"] == 7
    assert seen["retrained"] == 2  # t1 trained iteration 1 twice; t2 restarted fit at iteration 2
