"""Disk full (ENOSPC) at a checkpoint, a run file, an export and the decoded-array cache.

Where the machine lets the test mount a small tmpfs (root, Linux), the disk really fills;
elsewhere (CI without mount rights) Python's ``io.open`` is wrapped so that writes under the
folder fail with ``OSError(ENOSPC)`` past a byte budget, which is how a full disk looks to
every Python-level writer litelab uses (zipfile for .keras, numpy, pathlib). Either way the
user gets one line naming the path and the bytes needed, the earlier files stay intact and
the next run, once there is space, works.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from litelab.errors import LitelabError

FILLER = "filler.bin"


class SmallDisk:
    """A folder whose free space the test sets: a real tmpfs, or a byte budget on io.open."""

    def __init__(self, path: Path, monkeypatch) -> None:
        self.path = path
        self.real = False
        self.budget: int | None = None
        self._monkeypatch = monkeypatch
        path.mkdir(parents=True, exist_ok=True)
        mountable = os.geteuid() == 0 and shutil.which("mount")
        if mountable and not os.environ.get("LITELAB_TEST_NO_MOUNT"):  # forces the fallback
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(path)],
                capture_output=True,
                check=False,
            )
            self.real = done.returncode == 0
        if not self.real:
            self._install()

    def leave_free(self, nbytes: int) -> None:
        """Fill the disk so that about ``nbytes`` remain."""
        if self.real:
            free = shutil.disk_usage(self.path).free
            with open(self.path / FILLER, "ab") as f:
                f.write(b"\0" * max(free - nbytes, 0))
        else:
            self.budget = nbytes

    def free_space(self) -> None:
        if self.real:
            (self.path / FILLER).unlink(missing_ok=True)
        else:
            self.budget = None

    def close(self) -> None:
        if self.real:
            subprocess.run(["umount", "-l", str(self.path)], check=False)

    def _install(self) -> None:
        real_open = io.open
        disk = self

        def limited_open(file, mode="r", *args, **kwargs):
            f = real_open(file, mode, *args, **kwargs)
            try:
                inside = Path(os.fspath(file)).resolve().is_relative_to(disk.path.resolve())
            except TypeError:  # a file descriptor
                inside = False
            if not inside or not any(c in mode for c in "wax+"):
                return f
            write = f.write

            def checked(data):
                if disk.budget is not None:
                    n = len(data) if not isinstance(data, memoryview) else data.nbytes
                    if n > disk.budget:
                        disk.budget = 0
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    disk.budget -= n
                return write(data)

            f.write = checked
            return f

        self._monkeypatch.setattr(io, "open", limited_open)
        self._monkeypatch.setattr("builtins.open", limited_open)


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    disk = SmallDisk(tmp_path / "disk", monkeypatch)
    yield disk
    disk.close()


def one_line(exc: BaseException, path_part: str) -> str:
    text = str(exc)
    assert "\n" not in text
    assert text.startswith("disk full: writing ") and path_part in text
    assert "bytes" in text
    return text


def test_a_run_file_on_a_full_disk(small_disk):
    from litelab.files import write_json

    target = small_disk.path / "run" / "metrics.json"
    write_json(target, {"test_accuracy": 0.5})
    small_disk.leave_free(1000)
    big = {"confusion_matrix": [[i] * 200 for i in range(200)]}
    with pytest.raises(LitelabError) as info:
        write_json(target, big)
    text = one_line(info.value, "metrics.json")
    size = len((json.dumps(big, indent=2) + "\n").encode())
    assert f"needs {size:,} bytes" in text  # the exact size of what was being written
    assert json.loads(target.read_text()) == {"test_accuracy": 0.5}  # the old file is intact
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]  # no temp left
    small_disk.free_space()
    write_json(target, big)
    assert json.loads(target.read_text()) == big


def test_a_checkpoint_on_a_full_disk_keeps_the_last_one(toy_colours, small_disk, data_env):
    """Epoch 1's checkpoint is written; the disk fills before epoch 2's; `--resume` after
    freeing space finishes the run from epoch 1."""
    import keras

    from litelab.config import DatasetConfig, RunConfig, TrainingConfig
    from litelab.jobs import run
    from litelab.train import read_checkpoint_state

    runs = small_disk.path / "runs"
    cfg = RunConfig(
        data=DatasetConfig(source="toy"),
        training=TrainingConfig(model="tiny", epochs=3, batch_size=32),
        runs_dir=str(runs),
    )

    class FillAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):  # runs after the checkpoint callback
            if epoch == 0:
                small_disk.leave_free(200_000)  # a tiny checkpoint is ~2.7 MB

    with pytest.raises(LitelabError) as info:
        run(cfg, data=toy_colours, run_name="r", progress=False, verbose=0,
            callbacks=[FillAfterFirstEpoch()])  # fmt: skip
    text = one_line(info.value, "last.keras")
    assert "free some space" in text
    run_dir = runs / "r"
    state = read_checkpoint_state(run_dir)
    assert state["epochs_done"] == 1
    keras.models.load_model(run_dir / "checkpoint" / "last.keras")  # intact
    small_disk.free_space()
    result = run(resume=run_dir, data=toy_colours, progress=False, verbose=0)
    assert result.metrics["epochs_run"] == 3
    assert len((run_dir / "history.csv").read_text().splitlines()) == 4


def test_an_export_on_a_full_disk(toy_colours, small_disk, tmp_path, data_env):
    from litelab.config import resolve_config
    from litelab.export.exporter import export_model
    from litelab.jobs import run

    cfg = resolve_config(None, {"source": "x"}, {"model": "tiny", "epochs": 1}, str(tmp_path))
    trained = run(cfg, data=toy_colours, run_name="t", progress=False, verbose=0).run_dir
    out = small_disk.path / "export"
    export_model(trained, formats=("tflite-int8",), out_dir=out, progress=False,
                 representative=16, data=toy_colours, latency_repeats=1)  # fmt: skip
    before = (out / "model_int8.tflite").read_bytes()
    small_disk.leave_free(50_000)  # the float32 flatbuffer of tiny is ~0.9 MB
    with pytest.raises(LitelabError) as info:
        export_model(trained, formats=("tflite-float32",), out_dir=out, progress=False,
                     data=toy_colours, latency_repeats=1)  # fmt: skip
    one_line(info.value, "model_float32.tflite")
    assert (out / "model_int8.tflite").read_bytes() == before
    assert not (out / "model_float32.tflite").exists()
    small_disk.free_space()
    export_model(trained, formats=("tflite-float32",), out_dir=out, progress=False,
                 data=toy_colours, latency_repeats=1)  # fmt: skip
    assert (out / "model_float32.tflite").stat().st_size > 100_000


def test_the_data_cache_on_a_full_disk_is_a_warning(tmp_path, image_folder, small_disk,
                                                    monkeypatch, capsys):  # fmt: skip
    from litelab.config import DatasetConfig
    from litelab.data import load_dataset

    monkeypatch.setenv("LITELAB_CACHE_DIR", str(small_disk.path / "cache"))
    root = image_folder(tmp_path / "ds", {"a": (30, 4), "b": (30, 4)})
    (small_disk.path / "cache").mkdir()
    small_disk.leave_free(20_000)  # 68 images of 3 KB do not fit
    cfg = DatasetConfig(source=str(root), val_split=0.0)
    first = load_dataset(cfg, progress=False)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "data cache" in line]
    assert len(lines) == 1 and "was not saved: disk full: writing" in lines[0]
    assert "needs" in lines[0] and "bytes" in lines[0]
    assert list((small_disk.path / "cache").glob("*.npz")) == []
    small_disk.free_space()
    second = load_dataset(cfg, progress=False)
    np.testing.assert_array_equal(first.x_train, second.x_train)
    assert len(list((small_disk.path / "cache").glob("*.npz"))) == 1
    assert capsys.readouterr().err.count("data cache") == 0
