"""Frozen configuration dataclasses and how they are filled.

Precedence, lowest first: the dataclass defaults < the chosen model's own recipe (the
optimizer, learning rate, batch size and epochs its course notebook used) < a named recipe
(``--recipe``, see :data:`RECIPES`) < a TOML file (``--config``) < command-line flags.
The resolved config is written to every run directory as ``config.toml`` so that
``litelab run --config runs/<run>/config.toml`` reruns it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litelab import files
from litelab.errors import LitelabError, one_of

OPTIMIZERS = ("adam", "sgd", "nesterov", "rmsprop")
SCHEDULES = ("constant", "onecycle", "cosine", "exponential")
ACTIVATIONS = ("relu", "tanh", "elu", "selu", "gelu", "swish", "sigmoid")
# litelab.augment: batched, stateless ops, and the course's Keras layers
BATCHED_AUGMENTATIONS = ("flip", "crop", "cutout")
LAYER_AUGMENTATIONS = ("shift", "rotation")
AUGMENTATIONS = BATCHED_AUGMENTATIONS + LAYER_AUGMENTATIONS
STRATEGIES = ("default", "mirrored")  # tf.distribute: one device, or all GPUs of one machine
# litelab run also trains across processes or machines (litelab.multiworker); tune spreads
# its trials with keras-tuner's chief/workers instead (litelab.tune.distributed).
TRAINING_STRATEGIES = (*STRATEGIES, "multiworker")
# Distillation's defaults once a teacher is given (litelab.distill; benchmarks/distill.py
# measured the soft targets' two sources, see DISTILL_TARGETS)
DISTILL_DEFAULTS = {"distill_temperature": 4.0, "distill_alpha": 0.9, "distill_targets": "cached"}
DISTILL_TARGETS = ("cached", "cached-tta", "augmented")


# esp-eye-air's network and length, which esp-eye-kd reuses with a teacher
_ESP_EYE_AIR = {"model": "airnet", "model_options": {"widths": [64, 176, 176]}, "epochs": 20}

# Named recipes: a model plus the data and training settings that make a goal of issue 4.
# Each was measured by the benchmark named in its description.
RECIPES: dict[str, dict[str, Any]] = {
    "fast": {
        "description": "fastnet on the whole training split, 8 epochs of one-cycle SGD: "
        "the 10-minute recipe on 2 CPU cores (benchmarks/fast_recipe.py)",
        "data": {"val_split": 0.0},
        "training": {"model": "fastnet"},
    },
    "mcu": {
        "description": "mcunet on the whole training split, 30 epochs of one-cycle SGD: "
        "a model inside the MLPerf Tiny ResNet-8 budget (benchmarks/fast_recipe.py --recipe mcu)",
        "data": {"val_split": 0.0},
        "training": {"model": "mcunet"},
    },
    "mcu-distill": {
        "description": "mcunet taught by zoo:esp-eye (knowledge distillation, cached soft "
        "targets, T 4, alpha 0.9) for 60 epochs of one-cycle SGD on the whole training split: "
        "the MLPerf Tiny budget model of issue 16 goal 2 (benchmarks/fast_recipe.py "
        "--recipe mcu-distill)",
        "data": {"val_split": 0.0},
        "training": {"model": "mcunet", "teacher": "zoo:esp-eye", "epochs": 60},
    },
    "best": {
        "description": "airnet (airbench94's whitened network) on the whole training split, "
        "8 epochs of one-cycle SGD at batch 512: the laptop model of issue 16 goal 1, an hour "
        "or less on 2 CPU cores (benchmarks/fast_recipe.py --recipe best --course)",
        "data": {"val_split": 0.0},
        "training": {"model": "airnet", "epochs": 8},
    },
    "esp-eye-air": {
        "description": "airnet at widths 64, 176, 176 (a flatbuffer under 1 MiB, an arena in the "
        "ESP32's largest internal RAM block) for 20 epochs of the best recipe on the whole "
        "training split: issue 16 goal 3 (benchmarks/fast_recipe.py --recipe esp-eye-air)",
        "data": {"val_split": 0.0},
        "training": _ESP_EYE_AIR,
    },
    "esp-eye-kd": {
        "description": "the esp-eye-air recipe (airnet at widths 64, 176, 176, 20 epochs) "
        "taught by zoo:esp-eye, its own architecture (born-again distillation; soft targets "
        "cached as the teacher's mean on each image and its mirror, T 4, alpha 0.9): issue 16 "
        "goal 3 (benchmarks/fast_recipe.py --recipe esp-eye-kd; chosen on a validation split "
        "by benchmarks/val_probe.py)",
        "data": {"val_split": 0.0},
        "training": {**_ESP_EYE_AIR, "teacher": "zoo:esp-eye", "distill_targets": "cached-tta"},
    },
    "esp-eye": {
        "description": "fastnet on the whole training split, 30 epochs of one-cycle SGD: the "
        "fast recipe run longer, an int8 model whose arena fits the ESP32's largest internal "
        "RAM block (benchmarks/fast_recipe.py --recipe esp-eye)",
        "data": {"val_split": 0.0},
        "training": {"model": "fastnet", "epochs": 30},
    },
}


@dataclass(frozen=True)
class DatasetConfig:
    """Where the images come from and how they are split.

    ``val_split`` is the fraction of the training set held out for validation, taken from
    its end: 0.2 of CIFAR-10's 50,000 is the course's 40k/10k split. ``shuffle`` shuffles
    the training set with the run's seed before that split. ``test_fraction`` is used only
    for a single root of class folders (no train/test folders), to carve out a test set.
    """

    source: str = "cifar10"
    image_size: int = 32
    val_split: float = 0.2
    shuffle: bool = False
    train_limit: int | None = None
    test_limit: int | None = None
    test_fraction: float = 0.2
    cache: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise LitelabError("--data must name a source (cifar10, a file or a folder)")
        if self.image_size < 8:
            raise LitelabError(f"image size must be at least 8 pixels, got {self.image_size}")
        if not 0.0 <= self.val_split < 1.0:
            raise LitelabError(f"--val-split must be in [0, 1), got {self.val_split}")
        if not 0.0 < self.test_fraction < 1.0:
            raise LitelabError(f"test fraction must be in (0, 1), got {self.test_fraction}")
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise LitelabError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


@dataclass(frozen=True)
class TrainingConfig:
    """What to train and how. ``early_stopping`` is a patience in epochs (0 turns it off).

    ``optimizer`` "nesterov" is SGD with momentum 0.9 and Nesterov's update. ``schedule``
    shapes the learning rate over the whole run: "constant"; "onecycle", a linear ramp from
    0 to ``learning_rate`` over the first ``warmup`` fraction of steps, then a linear fall
    to 0; "cosine", the same ramp then a cosine fall. ``weight_decay`` is decoupled and
    spares biases and BatchNorm. ``fine_tune`` K > 0 (transfer models) adds a second
    stage of ``fine_tune_epochs`` (default: ``epochs``) with the backbone's last K layers
    unfrozen, at ``fine_tune_lr``. ``tta`` averages the predictions on each test image and
    its mirror image at evaluation. ``model_options`` are the model family's own knobs
    (see ``litelab models``; e.g. ``filters`` of ``cnn``). ``strategy`` "mirrored" trains
    on every GPU of this machine with ``tf.distribute.MirroredStrategy``.
    """

    model: str = "baseline"
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    activation: str = "relu"
    seed: int = 42
    augment: tuple[str, ...] = ()
    early_stopping: int = 0
    deterministic: bool = True
    schedule: str = "constant"
    warmup: float = 0.0
    label_smoothing: float = 0.0
    weight_decay: float = 0.0
    lr_decay: float = 0.99  # schedule "exponential": the rate's factor per epoch (MLPerf Tiny's)
    time_budget: float | None = None  # seconds of fitting; no epoch starts that would overrun
    tta: bool = False
    model_options: dict[str, Any] = field(default_factory=dict, hash=False)
    strategy: str = "default"
    fine_tune: int = 0
    fine_tune_lr: float = 1e-5
    fine_tune_epochs: int | None = None
    # Distillation (litelab.distill) and starting from a trained model (litelab.models.init)
    teacher: str | None = None
    distill_temperature: float | None = None  # 4.0 when a teacher is given
    distill_alpha: float | None = None  # 0.9 when a teacher is given: the soft loss's weight
    distill_targets: str | None = None  # "cached" with a teacher, "cached-tta" or "augmented"
    init: str | None = None
    freeze_backbone: bool = False

    def __post_init__(self) -> None:
        self._check_distill_and_init()
        if not isinstance(self.model_options, dict):
            raise LitelabError("[training.model_options] must be a table of option = value")
        one_of("strategy", self.strategy, TRAINING_STRATEGIES)
        if self.epochs < 1:
            raise LitelabError(f"--epochs must be at least 1, got {self.epochs}")
        if self.fine_tune < 0:
            raise LitelabError(f"--fine-tune must be >= 0 layers, got {self.fine_tune}")
        if not self.fine_tune_lr > 0:
            raise LitelabError(f"--fine-tune-lr must be greater than 0, got {self.fine_tune_lr}")
        if self.fine_tune_epochs is not None and self.fine_tune_epochs < 1:
            raise LitelabError(
                f"--fine-tune-epochs must be at least 1, got {self.fine_tune_epochs}"
            )
        if self.batch_size < 1:
            raise LitelabError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not self.learning_rate > 0:
            raise LitelabError(f"--lr must be greater than 0, got {self.learning_rate}")
        one_of("optimizer", self.optimizer, OPTIMIZERS)
        one_of("activation", self.activation, ACTIVATIONS)
        for name in self.augment:
            one_of("augmentation", name, AUGMENTATIONS)
        one_of("schedule", self.schedule, SCHEDULES)
        if not 0.0 <= self.warmup < 1.0:
            raise LitelabError(f"--warmup must be in [0, 1), got {self.warmup}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise LitelabError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0.0 <= self.weight_decay < 1.0:
            raise LitelabError(f"--weight-decay must be in [0, 1), got {self.weight_decay}")
        if not 0.0 < self.lr_decay <= 1.0:
            raise LitelabError(f"--lr-decay must be in (0, 1], got {self.lr_decay}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise LitelabError(
                f"--time-budget must be greater than 0 seconds, got {self.time_budget}"
            )
        if self.early_stopping < 0:
            raise LitelabError(f"--early-stopping must be >= 0, got {self.early_stopping}")
        if self.seed < 0:
            raise LitelabError(f"--seed must be >= 0, got {self.seed}")

    def _check_distill_and_init(self) -> None:
        for name, default in DISTILL_DEFAULTS.items():
            if self.teacher is None and getattr(self, name) is not None:
                raise LitelabError(f"--{name.replace('_', '-')} needs --teacher")
            if self.teacher is not None and getattr(self, name) is None:
                object.__setattr__(self, name, default)  # frozen: fill the default in place
        if self.teacher is not None:
            if not self.distill_temperature > 0:
                raise LitelabError(
                    f"--distill-temperature must be greater than 0, got {self.distill_temperature}"
                )
            if not 0.0 <= self.distill_alpha <= 1.0:
                raise LitelabError(f"--distill-alpha must be in [0, 1], got {self.distill_alpha}")
            one_of("--distill-targets", self.distill_targets, DISTILL_TARGETS)
        if self.freeze_backbone and not self.init:
            raise LitelabError("--freeze-backbone needs --init (the model to start from)")


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rerun a run: data, training and where runs go."""

    data: DatasetConfig = field(default_factory=DatasetConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    runs_dir: str = "runs"

    def to_dict(self) -> dict[str, Any]:
        """A TOML-ready dict (None values dropped, tuples as lists)."""

        def clean(obj: Any) -> dict[str, Any]:
            out = {}
            for key, value in dataclasses.asdict(obj).items():
                if value is None or value == {}:
                    continue
                if isinstance(value, dict):
                    value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
                out[key] = list(value) if isinstance(value, tuple) else value
            return out

        return {
            "runs_dir": self.runs_dir,
            "data": clean(self.data),
            "training": clean(self.training),
        }


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a config file; a missing or malformed file is a one-line error."""
    return files.read_toml(path, "config file")


def _check_keys(section: str, values: dict[str, Any], cls: type) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise LitelabError(
                f"unknown key {key!r} in [{section}] of the config; "
                f"known: {', '.join(sorted(known))}"
            )


def _build(cls: type, values: dict[str, Any]) -> Any:
    kwargs = dict(values)
    if "augment" in kwargs:
        aug = kwargs["augment"]
        if isinstance(aug, str):
            aug = [a for a in aug.replace(",", " ").split() if a]
        kwargs["augment"] = tuple(aug)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise LitelabError(f"bad value in config: {exc}") from None


def resolve_config(
    file_values: dict[str, Any] | None = None,
    data_overrides: dict[str, Any] | None = None,
    training_overrides: dict[str, Any] | None = None,
    runs_dir: str | None = None,
    recipe: str | None = None,
) -> RunConfig:
    """Merge defaults < model recipe < named recipe < TOML values < overrides.

    Override dicts hold only what the user set (None values are ignored), so a flag that
    was not given never hides a value from the config file.
    """
    from litelab.models import get_model_spec

    file_values = dict(file_values or {})
    unknown = set(file_values) - {"data", "training", "runs_dir"}
    if unknown:
        raise LitelabError(f"unknown section or key {sorted(unknown)[0]!r} in the config file")
    for section in ("data", "training"):  # fuzzing found `training = 0` raised a TypeError
        if not isinstance(file_values.get(section, {}), dict):
            raise LitelabError(f"[{section}] of the config must be a table of key = value")
    file_data = dict(file_values.get("data", {}))
    file_training = dict(file_values.get("training", {}))
    _check_keys("data", file_data, DatasetConfig)
    _check_keys("training", file_training, TrainingConfig)
    data_over = {k: v for k, v in (data_overrides or {}).items() if v is not None}
    train_over = {k: v for k, v in (training_overrides or {}).items() if v is not None}

    named: dict[str, Any] = {"data": {}, "training": {}}
    if recipe is not None:
        one_of("recipe", recipe, RECIPES)
        named = RECIPES[recipe]
    model_name = train_over.get(
        "model",
        file_training.get("model", named["training"].get("model", TrainingConfig.model)),
    )
    from litelab.models.registry import model_options

    model_recipe = dict(get_model_spec(model_name).recipe)
    options = {  # merged key by key, so a flag can change one option of the file's
        **dict(named["training"].get("model_options") or {}),
        **dict(file_training.get("model_options") or {}),
        **dict(train_over.get("model_options") or {}),
    }
    known = model_options(model_name)
    fine_tune = train_over.get("fine_tune", file_training.get("fine_tune", 0))
    init = train_over.get("init", file_training.get("init"))
    if fine_tune and "weights" not in known and not init:
        raise LitelabError(
            f"--fine-tune applies to transfer models (vgg16-transfer, mobilenetv2-transfer) "
            f"and to --init, not {model_name!r}"
        )
    for key in options:
        if key not in known:
            takes = f"it takes {', '.join(known)}" if known else "it takes none"
            raise LitelabError(f"model {model_name!r} has no option {key!r}; {takes}")
    training = _build(
        TrainingConfig,
        {
            **model_recipe,
            **named["training"],
            **file_training,
            **train_over,
            "model": model_name,
            "model_options": options,
        },
    )
    data = _build(DatasetConfig, {**named["data"], **file_data, **data_over})
    runs = runs_dir or file_values.get("runs_dir") or "runs"
    return RunConfig(data=data, training=training, runs_dir=str(runs))


def config_from_dict(values: dict[str, Any]) -> RunConfig:
    """Rebuild a saved config exactly (no model recipe applied: it is already resolved)."""
    data = _build(DatasetConfig, values.get("data", {}))
    training = _build(TrainingConfig, values.get("training", {}))
    return RunConfig(data=data, training=training, runs_dir=str(values.get("runs_dir", "runs")))
