"""Launching process groups the ways a learner will: torchrun on one machine, two torchrun
launchers acting as two nodes, the Slurm script (with stand-in ``srun``/``scontrol`` simulating 2
nodes on this machine), and ``e2edl run --nproc``.

Every launch has a timeout, uses a free port and leaves no process and no listening port behind.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

from distributed_support import ROOT, VENV_BIN, assert_no_leftovers, finish, launch, new_token, worker_env
from e2edl.distributed.ports import free_port, is_listening
from e2edl.launch import threads_per_worker, torchrun_command, without_nproc
from e2edl.train import distributed

HELLO = Path(__file__).with_name("distributed_hello.py")
SBATCH = ROOT / "scripts" / "slurm" / "torchrun.sbatch"
TIMEOUT = 180


def reports(out: Path, world: int) -> list[dict]:
    found = sorted(out.glob("rank*.json"))
    assert len(found) == world, f"{len(found)} of {world} workers reported"
    return [json.loads(path.read_text()) for path in found]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_torchrun_gives_each_worker_one_thread(tmp_path: Path) -> None:
    """Left unset, torchrun sets OMP_NUM_THREADS=1 for its workers, and PyTorch follows it."""
    token = new_token()
    env = worker_env(token)
    del env["OMP_NUM_THREADS"]
    port = free_port()
    cmd = [
        str(VENV_BIN / "torchrun"),
        "--nproc-per-node",
        "2",
        "--master-port",
        str(port),
        str(HELLO),
        str(tmp_path),
    ]
    code, output = finish(launch(cmd, env), TIMEOUT)
    assert code == 0, output[-3000:]
    for report in reports(tmp_path, 2):
        assert report["OMP_NUM_THREADS"] == "1" and report["threads"] == 1
        assert report["world_size"] == 2 and report["sum"] == 1.0
    assert_no_leftovers(token)
    assert not is_listening(port)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_torchrun_launchers_act_as_two_nodes(tmp_path: Path) -> None:
    """``--nnodes 2`` with a c10d rendezvous at localhost:PORT: each launcher is a node with one
    worker; they meet at the port, and the group has world size 2 with node ranks 0 and 1."""
    token, port = new_token(), free_port()
    node = [
        str(VENV_BIN / "torchrun"),
        "--nnodes", "2",
        "--nproc-per-node", "1",
        "--rdzv-backend", "c10d",
        "--rdzv-endpoint", f"localhost:{port}",
        "--rdzv-id", "two-nodes",
        str(HELLO), str(tmp_path),
    ]  # fmt: skip
    launchers = [launch(node, worker_env(token)) for _ in range(2)]
    results = [finish(launcher, TIMEOUT) for launcher in launchers]
    for code, output in results:
        assert code == 0, output[-3000:]
    found = reports(tmp_path, 2)
    assert sorted(r["GROUP_RANK"] for r in found) == ["0", "1"]  # two nodes
    assert all(r["LOCAL_RANK"] == "0" and r["WORLD_SIZE"] == "2" and r["sum"] == 1.0 for r in found)
    assert_no_leftovers(token)
    assert not is_listening(port)


SRUN = """#!/bin/bash
# Stand-in srun: run the command once per "node" of the allocation, all on this machine, each
# with its node's SLURM_* variables; fail if any fails (like --kill-on-bad-exit, minus the killing).
args=()
for arg in "$@"; do [[ "$arg" == --kill-on-bad-exit* ]] || args+=("$arg"); done
pids=()
for (( node = 0; node < SLURM_JOB_NUM_NODES; node++ )); do
    SLURM_NODEID=$node SLURM_PROCID=$node SLURM_LOCALID=0 "${args[@]}" &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
"""

SCONTROL = """#!/bin/bash
# Stand-in scontrol: `scontrol show hostnames LIST` names every node of the allocation localhost.
# It pauses between lines, as a real one may on a long list: a reader that stops after the first
# line (`| head -n 1`) then kills it with SIGPIPE, which `set -o pipefail` turns into a failed job.
[ "$1 $2" = "show hostnames" ] || { echo "stand-in scontrol knows only 'show hostnames'" >&2; exit 1; }
for (( node = 0; node < SLURM_JOB_NUM_NODES; node++ )); do echo localhost; sleep 0.2; done
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_slurm_script_runs_on_two_stand_in_nodes(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {"srun": SRUN, "scontrol": SCONTROL}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    token, port, out = new_token(), free_port(), tmp_path / "out"
    env = worker_env(
        token,
        PATH=f"{bin_dir}{os.pathsep}{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        SLURM_JOB_ID="4242",
        SLURM_JOB_NODELIST="node[01-02]",
        SLURM_JOB_NUM_NODES="2",
        SLURM_CPUS_PER_TASK="1",
        E2EDL_RDZV_PORT=str(port),
        E2EDL_NPROC_PER_NODE="1",
    )
    del env["OMP_NUM_THREADS"]  # the script sets it: cpus per task / workers per node
    code, output = finish(launch(["bash", str(SBATCH), str(HELLO), str(out)], env), TIMEOUT)
    assert code == 0, output[-3000:]
    assert f"rendezvous at localhost:{port}" in output
    found = reports(out, 2)
    assert sorted(r["GROUP_RANK"] for r in found) == ["0", "1"]
    assert all(r["WORLD_SIZE"] == "2" and r["sum"] == 1.0 and r["OMP_NUM_THREADS"] == "1" for r in found)
    assert_no_leftovers(token)
    assert not is_listening(port)


def test_slurm_script_without_a_command_says_how_to_use_it(tmp_path: Path) -> None:
    code, output = finish(launch(["bash", str(SBATCH)], worker_env(new_token())), 30)
    assert code == 2 and "usage: sbatch" in output


def test_nproc_relaunches_e2edl_under_torchrun() -> None:
    argv = ["run", "data-parallel", "--nproc", "2", "--quick", "--nproc=2"]
    assert without_nproc(argv) == ["run", "data-parallel", "--quick"]
    cmd = torchrun_command(argv, 2)
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert cmd[3:] == [
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "e2edl",
        "run",
        "data-parallel",
        "--quick",
    ]
    with pytest.raises(ValueError, match="at least 1"):
        torchrun_command(argv, 0)
    assert threads_per_worker(1) >= threads_per_worker(2) >= 1
    assert threads_per_worker(10_000) == 1


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_e2edl_module_runs_under_torchrun(tmp_path: Path) -> None:
    """``torchrun -m e2edl ...`` starts the package's CLI in every worker (here: ``list``)."""
    token = new_token()
    cmd = torchrun_command(["list"], 2)
    code, output = finish(launch(cmd, worker_env(token)), TIMEOUT)
    assert code == 0, output[-3000:]
    assert output.count("tensors-autograd") == 2  # each of the two workers listed the course
    assert_no_leftovers(token)


def test_share_cores_splits_the_cores_when_nothing_set_threads(monkeypatch) -> None:
    threads = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
        assert distributed.share_cores() == threads_per_worker(2) == torch.get_num_threads()
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert distributed.share_cores() == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(threads)


def test_alone_every_distributed_call_is_a_no_op() -> None:
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.init_from_env("cpu") == torch.device("cpu")
    loader = [torch.ones(4)]
    assert distributed.shard(loader) is loader
    assert distributed.sum_over_ranks(torch.tensor(2.0), 3) == [torch.tensor(2.0), 3]
    assert distributed.gather_rng_states() is None
    assert distributed.rank_rng_state({"rng": "mine"}) == "mine"


def _cli_has_nproc() -> bool:
    from e2edl import cli

    try:
        cli.build_parser().parse_args(["run", "x", "--nproc", "2"])
    except SystemExit:
        return False
    return True


@pytest.mark.skipif(not _cli_has_nproc(), reason="needs `e2edl run --nproc` (the cli.py patch)")
def test_e2edl_run_nproc_hands_the_same_command_to_torchrun(monkeypatch) -> None:
    import e2edl.launch
    from e2edl import cli

    calls = []
    monkeypatch.setattr(e2edl.launch, "relaunch", lambda argv, nproc: calls.append((argv, nproc)) or 0)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert cli.main(["run", "tensors-autograd", "--nproc", "2", "--quick"]) == 0
    assert calls == [(["run", "tensors-autograd", "--nproc", "2", "--quick"], 2)]
    assert cli.main(["run", "tensors-autograd", "--nproc", "0"]) == 2  # one line on stderr, exit 2
