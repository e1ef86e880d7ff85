"""Training: the tf.data input pipeline, compile settings and a resumable fit.

Images stay uint8 in memory and are scaled to 0..1 inside the pipeline, batch by batch,
so a 50,000-image training set costs 150 MB rather than 600 MB of float32. Every finished
epoch is checkpointed (the whole model with its optimizer state, plus the history so far)
into ``<run>/checkpoint/``; ``train(..., resume=True)`` continues from there.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from litelab.config import TrainingConfig
from litelab.errors import LitelabError
from litelab.io import atomic_path, write_json, write_text
from litelab.models import build_model
from litelab.runs import model_summary

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_MODEL = "last.keras"
CHECKPOINT_STATE = "state.json"


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and the backend; optionally make TF's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """The optimizer by its config name."""
    optimizers = {
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return optimizers[name](learning_rate=learning_rate)


def compile_model(model: keras.Model, cfg: TrainingConfig) -> keras.Model:
    """Compile with the config's optimizer; integer labels, cross-entropy, accuracy."""
    model.compile(
        optimizer=make_optimizer(cfg.optimizer, cfg.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def augmentation_layers(names: tuple[str, ...], seed: int) -> list[keras.layers.Layer]:
    """Keras preprocessing layers for the named augmentations (flip, shift, rotation)."""
    out: list[keras.layers.Layer] = []
    if "flip" in names:
        out.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if "shift" in names:
        out.append(keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 1))
    if "rotation" in names:
        out.append(keras.layers.RandomRotation(15 / 360, fill_mode="reflect", seed=seed + 2))
    return out


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    augment: tuple[str, ...] = (),
    input_scale: float = 1.0,
) -> tf.data.Dataset:
    """A batched tf.data pipeline over uint8 images: shuffle, scale to 0..input_scale, augment."""
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype("int32")))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    factor = float(input_scale) / 255.0

    def scale(images, labels):
        return tf.cast(images, tf.float32) * factor, labels

    ds = ds.map(scale, num_parallel_calls=tf.data.AUTOTUNE)
    aug = augmentation_layers(augment, seed)
    if aug:
        pipeline = keras.Sequential(aug)

        def augment_batch(images, labels):
            return pipeline(images, training=True), labels

        ds = ds.map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch, save the model (optimizer included) and the history, atomically.

    The model file is replaced first and the state second, so the state never names an
    epoch whose weights are not on disk.
    """

    def __init__(self, directory: Path, history: dict[str, list[float]], seconds: float) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.history = {k: list(v) for k, v in history.items()}
        self.seconds = seconds
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds += time.perf_counter() - self._epoch_start
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.history.setdefault("epoch_seconds", []).append(
            round(time.perf_counter() - self._epoch_start, 3)
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.directory / CHECKPOINT_MODEL) as tmp:
            self.model.save(tmp)
        write_json(
            self.directory / CHECKPOINT_STATE,
            {"epochs_done": epoch + 1, "train_seconds": self.seconds, "history": self.history},
        )


class StopAfterEpochs(keras.callbacks.Callback):
    """Raise KeyboardInterrupt after ``n`` epochs: stands in for a user's Ctrl-C in tests."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 >= self.n:
            raise KeyboardInterrupt


@dataclass
class TrainResult:
    """What a fit produced: the trained model, the full history and the time it took."""

    model: keras.Model
    history: dict[str, list[float]]
    train_seconds: float
    epochs_run: int
    stopped_early: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def read_checkpoint_state(run_dir: Path) -> dict[str, Any] | None:
    """The saved state of an interrupted run, or None if there is no checkpoint."""
    state_path = Path(run_dir) / CHECKPOINT_DIR / CHECKPOINT_STATE
    model_path = Path(run_dir) / CHECKPOINT_DIR / CHECKPOINT_MODEL
    if not state_path.is_file() or not model_path.is_file():
        return None
    try:
        return json.loads(state_path.read_text())
    except (json.JSONDecodeError, OSError) as exc:
        raise LitelabError(f"checkpoint state {state_path} is unreadable: {exc}") from None


def train(
    cfg: TrainingConfig,
    data: Any,
    run_dir: Path,
    *,
    resume: bool = False,
    verbose: int | str = "auto",
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> TrainResult:
    """Fit the configured model on ``data`` (a :class:`litelab.data.Dataset`).

    With ``resume``, the model, optimizer state and history come from the run's checkpoint
    and training continues at the next epoch. KeyboardInterrupt propagates after the last
    finished epoch has been checkpointed.
    """
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / CHECKPOINT_DIR
    history: dict[str, list[float]] = {}
    seconds = 0.0
    initial_epoch = 0
    seed_everything(cfg.seed, cfg.deterministic)
    if resume:
        state = read_checkpoint_state(run_dir)
        if state is None:
            raise LitelabError(f"nothing to resume in {run_dir}: it has no checkpoint/ folder")
        model = load_checkpoint_model(ckpt_dir / CHECKPOINT_MODEL)
        initial_epoch = int(state["epochs_done"])
        history = state["history"]
        seconds = float(state["train_seconds"])
    else:
        input_shape = tuple(data.x_train.shape[1:])
        model = compile_model(
            build_model(cfg.model, input_shape, data.num_classes, cfg.activation), cfg
        )
        write_text(run_dir / "summary.txt", model_summary(model))

    train_ds = make_dataset(
        data.x_train,
        data.y_train,
        cfg.batch_size,
        shuffle=True,
        seed=cfg.seed,
        augment=cfg.augment,
    )
    val_ds = make_dataset(data.x_val, data.y_val, cfg.batch_size) if len(data.x_val) else None
    checkpoint = EpochCheckpoint(ckpt_dir, history, seconds)
    cbs: list[keras.callbacks.Callback] = [
        checkpoint,
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs"), write_graph=False),
    ]
    early = None
    if cfg.early_stopping:
        early = keras.callbacks.EarlyStopping(
            monitor="val_loss" if val_ds is not None else "loss",
            patience=cfg.early_stopping,
            restore_best_weights=True,
        )
        cbs.append(early)
    cbs.extend(callbacks or [])
    if initial_epoch < cfg.epochs:
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=cfg.epochs,
            initial_epoch=initial_epoch,
            callbacks=cbs,
            verbose=verbose,
            shuffle=False,  # the tf.data pipeline shuffles, with the run's seed
        )
    epochs_run = len(checkpoint.history.get("loss", []))
    return TrainResult(
        model=model,
        history=checkpoint.history,
        train_seconds=round(checkpoint.seconds, 3),
        epochs_run=epochs_run,
        stopped_early=bool(early is not None and early.stopped_epoch > 0),
    )


def load_checkpoint_model(path: Path) -> keras.Model:
    """Load a checkpointed model with its optimizer, or fail with one line."""
    try:
        return keras.models.load_model(path)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the same user error
        raise LitelabError(f"checkpoint {path} cannot be loaded: {exc}") from None
