"""Knowledge distillation: a student learns from a trained teacher's softened predictions.

``litelab run --model mcunet --teacher zoo:fast`` trains the student on

    (1 - alpha) * CE(labels, student) + alpha * T^2 * KL(teacher_T || student_T)

where ``x_T`` is a prediction softened at temperature ``T`` (Hinton et al., 2015).
:class:`Distiller` is a ``keras.Model`` that wraps both and overrides ``compute_loss``, as
Keras' own knowledge-distillation example does, so ``fit``, the checkpoints and
``--resume`` work unchanged. The teacher's soft targets come one of two ways
(``--distill-targets``):

- ``cached`` (the default): the teacher predicts every un-augmented training image once,
  before the fit; each step looks its batch's soft targets up by image index, so a flipped
  or shifted image gets its original's;
- ``cached-tta``: the same, but each cached target averages the teacher's predictions on
  the image and on its mirror image (the teacher's flip TTA), so the targets are the
  teacher's better answer and the same for an image and its flipped copy;
- ``augmented``: the teacher predicts, inside each training step, the very batch the
  student sees.

``benchmarks/distill.py`` measured both on a 5,000-image slice of the CIFAR-10 (JPEG copy),
mcunet from zoo:fast, 6 epochs (``benchmarks/results/distill.json``): cached cost 0.90x the
student's own training per epoch (the teacher's one pass included), augmented 1.38x, and
cached was the more accurate (44.75% against 41.25%), so cached is the default. Neither
beat the student alone (46.45%) in so short a run.

Validation and test figures are the student's own: ``val_loss`` is its plain
cross-entropy, and the run saves the student alone (no teacher inside the model file).

A teacher is a run folder, a Keras model file or ``zoo:<name>``. It must output the
data's classes: the same number and, when it has a labels file, the same names in the
same order; anything else is a one-line error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
from keras import ops

from litelab.errors import LitelabError
from litelab.files import sha256_file

EPSILON = 1e-7


@keras.saving.register_keras_serializable(package="litelab")
class Distiller(keras.Model):
    """A student trained against a frozen teacher; calling it calls the student.

    Both models take the same images and end in a softmax; their log-probabilities serve
    as logits for the temperature. ``alpha`` weights the soft (teacher) term, ``1 - alpha``
    the compiled loss on the labels (with its label smoothing, if any).

    >>> d = Distiller(student, teacher, temperature=4.0, alpha=0.9)
    >>> d.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> d.fit(images, labels)  # then keep d.student
    """

    def __init__(
        self,
        student: keras.Model,
        teacher: keras.Model,
        temperature: float = 4.0,
        alpha: float = 0.9,
        teacher_sha256: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.teacher_sha256 = teacher_sha256  # the teacher file's, kept through checkpoints

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def soft_loss(self, teacher_probs, student_probs):
        """T^2 * KL(teacher_T || student_T), averaged over the batch."""
        t = self.temperature
        log_t = ops.log_softmax(ops.log(ops.clip(teacher_probs, EPSILON, 1.0)) / t, axis=-1)
        log_s = ops.log_softmax(ops.log(ops.clip(student_probs, EPSILON, 1.0)) / t, axis=-1)
        kl = ops.sum(ops.exp(log_t) * (log_t - log_s), axis=-1)
        return ops.mean(kl) * (t * t)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        labels, teacher_probs = y if isinstance(y, tuple | list) else (y, None)
        hard = super().compute_loss(x, labels, y_pred, sample_weight, training=training)
        if not training:  # validation: the student's own loss, comparable across runs
            return hard
        if teacher_probs is None:  # "augmented": the teacher sees the student's batch
            teacher_probs = self.teacher(x, training=False)
        soft = self.soft_loss(ops.stop_gradient(teacher_probs), y_pred)
        return (1.0 - self.alpha) * hard + self.alpha * soft

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        labels = y[0] if isinstance(y, tuple | list) else y  # "cached": (labels, soft targets)
        return super().compute_metrics(x, labels, y_pred, sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "temperature": self.temperature,
            "alpha": self.alpha,
            "teacher_sha256": self.teacher_sha256,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Distiller:
        config = dict(config)
        student = keras.saving.deserialize_keras_object(config.pop("student"))
        teacher = keras.saving.deserialize_keras_object(config.pop("teacher"))
        return cls(student, teacher, **config)


def cached_targets(
    model: keras.Model, data: Any, cfg: Any, one_hot: int | None, make_dataset: Any
) -> tf.data.Dataset | None:
    """For ``distill_targets`` ``"cached"`` or ``"cached-tta"``: the training pipeline of
    ``cfg`` whose targets are ``(labels, teacher probabilities)``, the teacher run once over
    the un-augmented training images (an augmented image gets its original's soft targets;
    with ``cached-tta`` they average the image's and its mirror's predictions). None
    otherwise.
    ``make_dataset`` is :func:`litelab.train.make_dataset`, passed in (train imports this)."""
    if not isinstance(model, Distiller) or cfg.distill_targets not in ("cached", "cached-tta"):
        return None
    import numpy as np

    from litelab.inference import predict_probs

    probs = predict_probs(model.teacher, data.x_train)
    if cfg.distill_targets == "cached-tta":
        probs = (probs + predict_probs(model.teacher, data.x_train[:, :, ::-1])) / 2
    soft = tf.constant(probs.astype("float32"))
    labels = tf.constant(np.asarray(data.y_train).astype("int32"))
    index = np.arange(len(data.x_train))
    batches = make_dataset(
        data.x_train, index, cfg.batch_size, shuffle=True, seed=cfg.seed, augment=cfg.augment,
        repeat=True,
    )  # fmt: skip

    def targets(images, idx):
        y = tf.gather(labels, idx)
        y = tf.one_hot(y, one_hot) if one_hot else y
        return images, (y, tf.gather(soft, idx))

    return batches.map(targets, num_parallel_calls=tf.data.AUTOTUNE)


def student_of(model: keras.Model) -> keras.Model:
    """The model to save and evaluate: a Distiller's student, else the model itself."""
    return model.student if isinstance(model, Distiller) else model


@dataclass(frozen=True)
class Teacher:
    """A loaded, frozen teacher, where it came from and its class names."""

    model: keras.Model
    source: str
    path: Path
    labels: list[str] | None
    sha256: str  # of the file at load time, so a run says which teacher taught it


def load_teacher(ref: str | Path, image_size: int, classes: list[str]) -> Teacher:
    """Load the teacher and check it answers the data's question: one-line errors for a
    wrong input size, a different class count, or different class names."""
    from litelab.inference import check_model_fits
    from litelab.models.init import load_source

    model, path, labels = load_source(ref, "--teacher")
    check_model_fits(model, image_size, None, where=f"--teacher {ref}")
    outputs = int(model.outputs[0].shape[-1])
    if outputs != len(classes):
        raise LitelabError(
            f"--teacher {ref} outputs {outputs} classes but the data has {len(classes)}; "
            "a teacher must know the student's classes"
        )
    if labels is not None and list(labels) != list(classes):
        diff = next(
            (f"{a!r} vs {b!r}" for a, b in zip(labels, classes, strict=False) if a != b),
            f"{len(labels)} names vs {len(classes)}",
        )
        raise LitelabError(
            f"--teacher {ref} has other class names than the data ({diff}, teacher vs data); "
            "a teacher must know the student's classes, in the same order"
        )
    model.trainable = False
    return Teacher(model, str(ref), path, labels, sha256_file(path))


def wrap(student: keras.Model, teacher: Teacher, temperature: float, alpha: float) -> Distiller:
    """The student inside a :class:`Distiller` with ``teacher``; built, ready to compile."""
    distiller = Distiller(
        student, teacher.model, temperature, alpha, teacher_sha256=teacher.sha256, name="distiller"
    )
    distiller(keras.ops.zeros((1, *student.inputs[0].shape[1:])))  # build before compile
    return distiller


def build_training_model(cfg: Any, data: Any) -> tuple[keras.Model, keras.Model]:
    """(what ``fit`` trains, the student it saves): the config's zoo model, or ``--init``'s
    body under a new class layer, inside a :class:`Distiller` when there is a teacher.
    Every user mistake (a missing source, a teacher of other classes) is raised here."""
    from litelab.models import build_model, get_model_spec
    from litelab.models.init import check_model_name, init_model

    shape = tuple(data.x_train.shape[1:])
    if cfg.init:
        check_model_name(cfg.init, cfg.model)
        student = init_model(cfg.init, shape, data.num_classes, freeze_backbone=cfg.freeze_backbone)
    else:
        student = build_model(
            cfg.model, shape, data.num_classes, cfg.activation, **cfg.model_options
        )
        prepare = get_model_spec(cfg.model).prepare
        if prepare is not None:  # weights computed from the training images (airnet)
            prepare(student, data.x_train)
    if not cfg.teacher:
        return student, student
    teacher = load_teacher(cfg.teacher, int(shape[0]), list(data.classes))
    return wrap(student, teacher, cfg.distill_temperature, cfg.distill_alpha), student


def record(cfg: Any, model: keras.Model) -> dict[str, Any]:
    """What metrics.json (and so a zoo card) says about the teacher (empty without one)."""
    if not cfg.teacher:
        return {}
    info: dict[str, Any] = {
        "source": str(cfg.teacher),
        "temperature": float(cfg.distill_temperature),
        "alpha": float(cfg.distill_alpha),
        "targets": cfg.distill_targets,
    }
    if isinstance(model, Distiller):
        info["params"] = int(model.teacher.count_params())
        info["sha256"] = model.teacher_sha256
    return {"teacher": info}
