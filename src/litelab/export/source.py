"""What ``litelab export`` and ``litelab deploy`` work on: one resolver for both.

A source is a run folder, a Keras model file or SavedModel folder, a ``zoo:`` name, or (for
deploy) a .tflite file. :func:`resolve_source` turns it into a :class:`Source` or a
one-line error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from litelab.errors import LitelabError

if TYPE_CHECKING:  # litelab.runs imports Keras; this module stays light (deploy imports it)
    from litelab.runs import Run

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
PURPOSES = ("export", "deploy")


@dataclass(frozen=True)
class Source:
    """A resolved source: the model file to read and where it came from.

    ``kind`` is "run" (a run folder), "zoo" (a shipped model), "keras" (a Keras file or
    SavedModel folder) or "tflite" (a flatbuffer; deploy only). ``labels_file`` is the
    labels.txt that goes with the model, when there is one.
    """

    path: Path
    kind: str
    run: Run | None = None
    name: str | None = None  # a zoo entry's name
    labels_file: Path | None = None

    @property
    def run_dir(self) -> Path | None:
        return None if self.run is None else self.run.path

    @property
    def labels(self) -> list[str] | None:
        """A run's or zoo entry's class names (None for a bare model file or no labels.txt)."""
        from litelab.runs import Run

        if self.kind not in ("run", "zoo") or self.labels_file is None:
            return None
        return Run(self.labels_file.parent).labels()

    def class_names(self, num_outputs: int, labels_file: str | Path | None = None) -> list[str]:
        """Class names for ``num_outputs`` outputs: ``labels_file``, else the source's own
        labels.txt, else those beside the model, else the defaults."""
        from litelab.runs import model_labels

        return model_labels(self.path, num_outputs, labels_file or self.labels_file)

    @property
    def default_out(self) -> Path:
        """``<run>/export`` for a run, else ``export-<model stem or zoo name>`` here."""
        if self.run is not None:
            return self.run.export_dir
        return Path(f"export-{self.name or self.path.stem or self.path.name}")


def is_tflite(path: Path) -> bool:
    """A .tflite file, or any file with the TFLite flatbuffer identifier."""
    if not path.is_file():
        return False
    if path.suffix.lower() == ".tflite":
        return True
    with open(path, "rb") as f:
        return f.read(8)[4:8] == b"TFL3"


def resolve_source(source: str | Path, *, purpose: str = "export") -> Source:
    """Resolve what export (``purpose="export"``) or deploy (``"deploy"``) was given.

    export takes a run folder (its model.keras), a zoo name, a .keras/.h5 file or a
    SavedModel folder; deploy also takes a .tflite file and prefers a run's exported
    int8 model (``export/model_int8.tflite``) and a zoo entry's int8 flatbuffer.
    """
    from litelab.runs import CONFIG_FILE, KERAS_FILE, Run
    from litelab.zoo import PREFIX, is_zoo_ref, resolve

    deploy = purpose == "deploy"
    if is_zoo_ref(source):  # the shipped model; files go to export-<name>, not the package
        path = Path(resolve(source, "int8" if deploy else "keras"))
        kind = ("tflite" if is_tflite(path) else "keras") if deploy else "zoo"
        return Source(path, kind, name=str(source)[len(PREFIX) :], labels_file=_beside(path))
    path = Path(source)
    if not path.exists():
        raise LitelabError(f"{purpose} source not found: {path}")
    if Run.is_run(path):
        run = Run(path)
        labels = run.labels_path if run.labels_path.is_file() else None
        if deploy and run.int8_path.is_file():
            return Source(run.int8_path, "run", run, labels_file=labels or _beside(run.int8_path))
        if not run.model_path.is_file():
            if deploy:
                exported = run.int8_path.relative_to(run.path)
                raise LitelabError(f"run folder {path} has neither {exported} nor {KERAS_FILE}")
            raise LitelabError(
                f"run {path} has no {KERAS_FILE} (unfinished? `litelab train --resume {path}`)"
            )
        return Source(run.model_path, "run", run, labels_file=labels)
    if deploy:
        kind = "tflite" if is_tflite(path) else "keras"
        return Source(path, kind, labels_file=_beside(path))
    if path.is_dir() and not (path / "saved_model.pb").is_file():
        raise LitelabError(
            f"{path} is neither a run folder (no {CONFIG_FILE}) nor a SavedModel "
            "(no saved_model.pb); pass a run folder, a .keras or .h5 file or a SavedModel"
        )
    if path.is_file() and path.suffix.lower() not in KERAS_SUFFIXES:
        raise LitelabError(
            f"{path} is not a model: export takes a run folder, a .keras or .h5 file "
            "or a SavedModel folder"
        )
    return Source(path, "keras", labels_file=_beside(path))


def _beside(path: Path) -> Path | None:
    from litelab.runs import LABELS_FILE

    labels = path.parent / LABELS_FILE
    return labels if labels.is_file() else None
