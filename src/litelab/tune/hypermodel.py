"""The course's CNN as a keras-tuner HyperModel: the space decides the model *and* the fit.

:meth:`CourseHyperModel.training_config` turns one set of hyperparameter values into a
plain :class:`litelab.config.TrainingConfig` (model ``cnn`` with its ``model_options``), so a
trial, the final retraining and ``litelab run --config`` all build the same network the
same way.
"""

from __future__ import annotations

import time
from typing import Any

import keras
import keras_tuner as kt

from litelab.config import TrainingConfig
from litelab.models import build_model
from litelab.train import compile_model, fit_datasets, fit_epochs
from litelab.tune.space import AUGMENT_ON, SearchSpace


class Deadline(keras.callbacks.Callback):
    """Stop training at the end of the first epoch that finishes after ``deadline``."""

    def __init__(self, deadline: float | None) -> None:
        super().__init__()
        self.deadline = deadline
        self.fired = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.deadline is not None and time.time() >= self.deadline:
            self.fired = True
            self.model.stop_training = True


class CourseHyperModel(kt.HyperModel):
    """Builds and fits one trial of the search over ``space``.

    ``tune_epochs`` is False under Hyperband, which hands each trial its own epochs.
    ``patience`` stops a trial when val_loss has not improved for that many epochs.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        input_shape: tuple[int, int, int],
        num_classes: int,
        num_train: int,
        seed: int,
        tune_epochs: bool,
        patience: int,
        deadline: float | None = None,
    ) -> None:
        super().__init__(name="course_cnn", tunable=True)
        self.space = space
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.num_train = num_train
        self.seed = seed
        self.tune_epochs = tune_epochs
        self.patience = patience
        self.deadline = deadline

    def training_config(self, hp: kt.HyperParameters, epochs: int | None = None) -> TrainingConfig:
        """The :class:`TrainingConfig` these hyperparameter values stand for."""
        p = self.space.params
        blocks = int(p["conv_blocks"].declare(hp))
        filters = [int(p["filters"].declare(hp, f"filters_{i}")) for i in range(blocks)]
        options = {
            "filters": filters,
            "dense_units": int(p["units"].declare(hp)),
            "dropout": float(p["dropout"].declare(hp)),
        }
        optimizer = p["optimizer"].declare(hp)
        lr = float(p["learning_rate"].declare(hp))
        activation = p["activation"].declare(hp)
        batch_size = int(p["batch_size"].declare(hp))
        augment = AUGMENT_ON if p["augment"].declare(hp) else ()
        if epochs is None:
            epochs = int(p["epochs"].declare(hp)) if self.tune_epochs else 1
        return TrainingConfig(
            model="cnn",
            model_options=options,
            optimizer=optimizer,
            learning_rate=lr,
            activation=activation,
            batch_size=batch_size,
            augment=augment,
            epochs=epochs,
            seed=self.seed,
        )

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        cfg = self.training_config(hp)
        keras.utils.set_random_seed(self.seed)  # every trial starts from the same seed
        model = build_model(
            cfg.model, self.input_shape, self.num_classes, cfg.activation, **cfg.model_options
        )
        return compile_model(model, cfg, -(-self.num_train // cfg.batch_size))

    def fit(self, hp: kt.HyperParameters, model: keras.Model, data: Any, **kwargs: Any) -> Any:
        """Train on ``data.x_train`` with the trial's batch size, augmentation and epochs.

        Under Hyperband ``kwargs`` carry ``epochs`` and ``initial_epoch``, and
        ``initial_weights`` for a trial that continues another; otherwise the epochs are the
        trial's own ``epochs`` hyperparameter (seed 001's custom tuner). Returns the History.
        """
        cfg = self.training_config(hp)
        given = kwargs.pop("epochs", None)
        epochs = cfg.epochs if self.tune_epochs else given
        initial_epoch = int(kwargs.pop("initial_epoch", 0))
        callbacks = list(kwargs.pop("callbacks", []))
        initial_weights = kwargs.pop("initial_weights", None)
        if initial_weights is not None:
            model.set_weights(initial_weights)
        early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.patience)
        callbacks += [early, Deadline(self.deadline)]
        train_ds, val_ds = fit_datasets(data, cfg)  # cfg.seed is the tuner's seed
        steps = -(-len(data.x_train) // cfg.batch_size)
        # verbose=0: keras-tuner's own display reports each trial
        return fit_epochs(model, (train_ds, val_ds), (initial_epoch, int(epochs or 1)), steps,
                          callbacks, verbose=0)  # fmt: skip
