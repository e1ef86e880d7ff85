"""Training: the tf.data input pipeline, compile settings and a resumable fit.

Images stay uint8 in memory and are scaled to 0..1 inside the pipeline, batch by batch,
so a 50,000-image training set costs 150 MB rather than 600 MB of float32. Every finished
epoch is checkpointed (the whole model with its optimizer state, plus the history so far)
into ``<run>/checkpoint/``; ``train(..., resume=True)`` continues from there.
"""

from __future__ import annotations

import dataclasses
import json
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from litelab.config import BATCHED_AUGMENTATIONS, TrainingConfig
from litelab.errors import LitelabError
from litelab.files import atomic_path, write_json, write_text
from litelab.lazy import callable_module
from litelab.runs import model_summary

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_MODEL = "last.keras"
CHECKPOINT_STATE = "state.json"


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and the backend; optionally make TF's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


@keras.saving.register_keras_serializable(package="litelab")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Linear ramp from 0 to ``peak`` over ``warmup_steps``, then linear fall to 0 at
    ``total_steps`` (the triangular one-cycle shape airbench and hlb-CIFAR10 use)."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int) -> None:
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        up = step / max(self.warmup_steps, 1)
        down = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        return self.peak * tf.clip_by_value(tf.minimum(up, down), 0.0, 1.0)

    def get_config(self) -> dict[str, Any]:
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }


def learning_rate(cfg: TrainingConfig, steps_per_epoch: int) -> Any:
    """The config's learning rate: a float, or a schedule over ``epochs * steps_per_epoch``."""
    total = max(cfg.epochs * steps_per_epoch, 1)
    warmup = int(round(cfg.warmup * total))
    if cfg.schedule == "onecycle":
        return OneCycle(cfg.learning_rate, total, warmup)
    if cfg.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else cfg.learning_rate,
            decay_steps=max(total - warmup, 1),
            warmup_target=cfg.learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    if cfg.schedule == "exponential":  # MLPerf Tiny's lr * 0.99 ** epoch, a step each epoch
        return keras.optimizers.schedules.ExponentialDecay(
            cfg.learning_rate, steps_per_epoch, cfg.lr_decay, staircase=True
        )
    return cfg.learning_rate


def make_optimizer(
    name: str, learning_rate: Any, weight_decay: float = 0.0
) -> keras.optimizers.Optimizer:
    """The optimizer by its config name; weight decay (if any) skips biases and BatchNorm."""
    decay = weight_decay or None
    if name == "nesterov":
        opt = keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True, weight_decay=decay)
    else:
        optimizers = {
            "adam": keras.optimizers.Adam,
            "sgd": keras.optimizers.SGD,
            "rmsprop": keras.optimizers.RMSprop,
        }
        opt = optimizers[name](learning_rate=learning_rate, weight_decay=decay)
    if decay:
        opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return opt


def compile_model(model: keras.Model, cfg: TrainingConfig, steps_per_epoch: int = 1) -> keras.Model:
    """Compile with the config's optimizer and schedule; cross-entropy, accuracy.

    With label smoothing the pipeline yields one-hot labels (Keras' sparse loss has no
    smoothing); otherwise integer labels.
    """
    if cfg.label_smoothing:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(
        optimizer=make_optimizer(
            cfg.optimizer, learning_rate(cfg, steps_per_epoch), cfg.weight_decay
        ),
        loss=loss,
        metrics=["accuracy"],
    )
    return model


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    augment: tuple[str, ...] = (),
    input_scale: float = 1.0,
    repeat: bool = False,
    one_hot: int | None = None,
    share: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """A batched tf.data pipeline over uint8 images: shuffle, scale to 0..input_scale, augment.

    The arrays stay whole in memory; the pipeline shuffles *indices* and gathers a batch at
    a time. On 2 cores, shuffling and batching 3 KB image elements one by one capped the
    baseline's fit near 1,600 images/s whatever the batch size; gathering batches reached
    2,100-2,400 (benchmarks/throughput.py has the end-to-end comparison). With ``repeat``
    the dataset never ends (use ``steps_per_epoch``) and the batch-wise augmentations are
    seeded by (seed, global step), so they stay reproducible. ``one_hot`` (the class
    count) yields one-hot labels.
    """
    from litelab.augment import augment_batch, augmentation_layers

    n = len(x)
    images = tf.constant(np.ascontiguousarray(x))
    labels = tf.constant(np.asarray(y).astype("int32"))
    factor = float(input_scale) / 255.0
    batched_aug = tuple(a for a in augment if a in BATCHED_AUGMENTATIONS)
    index = tf.data.Dataset.range(n)
    if shuffle:
        index = index.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    index = index.batch(batch_size)
    if share is not None:  # multiworker: this worker's (i, of n) slice of every global batch
        from litelab.multiworker import batch_share

        index = batch_share(index, *share)
    if repeat:
        index = index.repeat()

    def load(step, idx):
        batch = tf.cast(tf.gather(images, idx), tf.float32) * factor
        target = tf.gather(labels, idx)
        if batched_aug:
            batch = augment_batch(batch, batched_aug, tf.stack([tf.cast(seed, tf.int64), step]))
        if one_hot:
            target = tf.one_hot(target, one_hot)
        return batch, target

    ds = index.enumerate().map(load, num_parallel_calls=tf.data.AUTOTUNE)
    layers = augmentation_layers(augment, seed)
    if layers:
        pipeline = keras.Sequential(layers)

        def apply_layers(batch, target):
            return pipeline(batch, training=True), target

        ds = ds.map(apply_layers, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch, save the model (optimizer included) and the history, atomically.

    The model file is replaced first and the state second, so the state never names an
    epoch whose weights are not on disk.
    """

    def __init__(
        self,
        directory: Path,
        history: dict[str, list[float]],
        seconds: float,
        facts: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.history = {k: list(v) for k, v in history.items()}
        self.seconds = seconds
        self.facts = dict(facts or {})  # what the run's start knew, kept for a resume
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
            {
                "epochs_done": epoch + 1,
                "train_seconds": self.seconds,
                "history": self.history,
                "facts": self.facts,
            },
        )


class TimeBudget(keras.callbacks.Callback):
    """Stop before an epoch that would take the fit past ``budget`` seconds.

    Reads the fit's seconds so far from the run's :class:`EpochCheckpoint` (resumed runs
    included) and predicts the next epoch from the mean of those run, so the fit ends
    within the budget unless its first epoch alone overruns it.
    """

    def __init__(self, budget: float, checkpoint: EpochCheckpoint) -> None:
        super().__init__()
        self.budget = float(budget)
        self.checkpoint = checkpoint
        self.stopped = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        times = self.checkpoint.history.get("epoch_seconds", [])
        mean = sum(times) / max(len(times), 1)
        if self.checkpoint.seconds + mean > self.budget:
            self.stopped = True
            self.model.stop_training = True


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
    stopped_by_time_budget: bool = False


def fit_datasets(data: Any, cfg: TrainingConfig, one_hot: int | None = None) -> tuple[Any, Any]:
    """The training pipeline of ``cfg`` (shuffled with its seed, augmented, repeated) and the
    validation pipeline, or None when ``data`` has no validation split."""
    train_ds = make_dataset(
        data.x_train,
        data.y_train,
        cfg.batch_size,
        shuffle=True,
        seed=cfg.seed,
        augment=cfg.augment,
        repeat=True,
        one_hot=one_hot,
    )
    val_ds = None
    if len(data.x_val):
        val_ds = make_dataset(data.x_val, data.y_val, cfg.batch_size, one_hot=one_hot)
    return train_ds, val_ds


def fit_epochs(
    model: keras.Model,
    datasets: tuple[Any, Any],
    epochs: tuple[int, int],
    steps_per_epoch: int,
    callbacks: list[Any],
    verbose: Any = "auto",
) -> Any:
    """``model.fit`` from epoch ``epochs[0]`` to ``epochs[1]`` on (train, validation)
    pipelines; Keras does not shuffle again: the tf.data pipeline shuffles with the seed."""
    train_ds, val_ds = datasets
    return model.fit(
        train_ds,
        validation_data=val_ds,
        initial_epoch=epochs[0],
        epochs=epochs[1],
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,
    )


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


def distribution_strategy(name: str) -> tf.distribute.Strategy:
    """``"mirrored"``: synchronous data parallelism over every GPU of this machine (or the
    CPU when there is none); ``"default"``: TF's no-op strategy (one device)."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":  # the cluster of TF_CONFIG (litelab.multiworker.configure)
        from litelab.multiworker import strategy

        return strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    raise LitelabError(f"unknown strategy {name!r}; choose default, mirrored or multiworker")


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
    steps_per_epoch = -(-len(data.x_train) // cfg.batch_size)
    multi = cfg.strategy == "multiworker"  # every worker builds, then takes the chief's state
    saved = None
    facts: dict[str, Any] = {}  # the --init file's hash, taken when it is loaded
    if multi and resume:  # the chief's checkpoint, loaded outside the strategy (no collectives)
        saved = load_checkpoint_model(ckpt_dir / CHECKPOINT_MODEL)
    with distribution_strategy(cfg.strategy).scope():
        if resume:
            state = read_checkpoint_state(run_dir)
            if state is None:
                raise LitelabError(f"nothing to resume in {run_dir}: it has no checkpoint/ folder")
            initial_epoch = int(state["epochs_done"])
            history = state["history"]
            seconds = float(state["train_seconds"])
            facts = dict(state.get("facts", {}))
        if resume and not multi:
            model = load_checkpoint_model(ckpt_dir / CHECKPOINT_MODEL)
        else:  # the zoo model or --init's, inside a Distiller with --teacher (litelab.distill)
            from litelab.distill import build_training_model

            if cfg.init and not resume:  # hashed as it is read: the file may change meanwhile
                from litelab.models.init import start_sha256

                facts["init_sha256"] = start_sha256(cfg.init)
            model, student = build_training_model(cfg, data)
            if not resume:
                write_text(run_dir / "summary.txt", model_summary(student))
            model = compile_model(model, cfg, steps_per_epoch)
        if multi:
            from litelab import multiworker

            initial_epoch = multiworker.start(model, saved, initial_epoch)

    one_hot = data.num_classes if cfg.label_smoothing else None
    if multi:  # each worker reads its share of every global batch (litelab.multiworker)
        train_ds, val_ds = multiworker.datasets(make_dataset, data, cfg, one_hot)
    else:
        train_ds, val_ds = fit_datasets(data, cfg, one_hot=one_hot)
        if cfg.teacher:  # soft targets cached once, unless the teacher runs in each step
            from litelab.distill import cached_targets

            cached = cached_targets(model, data, cfg, one_hot, make_dataset)
            train_ds = train_ds if cached is None else cached
    checkpoint = EpochCheckpoint(ckpt_dir, history, seconds, facts)
    stage = StageTag(1)
    cbs: list[keras.callbacks.Callback] = [
        stage,  # first: the checkpoint records the stage with each epoch
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
    budget = TimeBudget(cfg.time_budget, checkpoint) if cfg.time_budget else None
    if budget is not None:
        cbs.append(budget)
    cbs.extend(callbacks or [])

    def fit_until(epochs: int, start: int) -> None:
        if start < epochs:
            # multiworker: Keras takes the strategy from the scope (litelab.multiworker)
            scope = distribution_strategy(cfg.strategy).scope() if multi else nullcontext()
            with scope:
                fit_epochs(
                    model, (train_ds, val_ds), (start, epochs), steps_per_epoch, cbs, verbose
                )

    fit_until(cfg.epochs, initial_epoch)
    if cfg.fine_tune:
        model = _fine_tune(model, cfg, checkpoint, stage, steps_per_epoch)
        stage.stage = 2
        stages = checkpoint.history.get("stage", [])
        done = len(checkpoint.history.get("loss", []))
        total = sum(1 for s in stages if s == 1) + (cfg.fine_tune_epochs or cfg.epochs)
        fit_until(total, done)
    epochs_run = len(checkpoint.history.get("loss", []))
    from litelab import distill
    from litelab.models import init

    student = distill.student_of(model)
    extra = {**distill.record(cfg, model), **init.record(cfg, student, facts.get("init_sha256"))}
    return TrainResult(
        model=student,  # a distilled run keeps the student alone
        history=checkpoint.history,
        train_seconds=round(checkpoint.seconds, 3),
        epochs_run=epochs_run,
        stopped_early=bool(early is not None and early.stopped_epoch > 0),
        extra=extra,
        stopped_by_time_budget=bool(budget is not None and budget.stopped),
    )


class StageTag(keras.callbacks.Callback):
    """Adds ``stage`` (1: the head, 2: fine-tuning) to each epoch's logs and history."""

    def __init__(self, stage: int) -> None:
        super().__init__()
        self.stage = stage

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["stage"] = self.stage


def _fine_tune(
    model: keras.Model, cfg: TrainingConfig, checkpoint: Any, stage: StageTag, steps: int
) -> keras.Model:
    """Stage 2 of transfer learning: unfreeze the backbone's last ``cfg.fine_tune`` layers
    and recompile at ``cfg.fine_tune_lr``, unless a resumed checkpoint is already there."""
    from litelab.distill import student_of
    from litelab.models.transfer import unfreeze_last

    stages = checkpoint.history.get("stage", [])
    if stages and stages[-1] == 2:  # resumed inside stage 2: the checkpoint has it all
        return model
    with distribution_strategy(cfg.strategy).scope():
        unfreeze_last(student_of(model), cfg.fine_tune)
        second = dataclasses.replace(
            cfg, learning_rate=cfg.fine_tune_lr, schedule="constant", warmup=0.0
        )
        compile_model(model, second, steps)
    return model


def load_checkpoint_model(path: Path) -> keras.Model:
    """Load a checkpointed model with its optimizer, or fail with one line."""
    import litelab.distill  # noqa: F401  (registers the Distiller of a distilled run)
    import litelab.models.layers  # noqa: F401  (registers litelab's own layers for loading)

    try:
        return keras.models.load_model(path)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the same user error
        raise LitelabError(f"checkpoint {path} cannot be loaded: {exc}") from None


# litelab.train(...) in a notebook: the module is also litelab.api.train (see litelab.lazy).
callable_module(__name__, "litelab.api:train")
