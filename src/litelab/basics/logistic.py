"""Logistic regression, the course's second warm-up (seed 001): two features, two classes.

scikit-learn's ``LogisticRegression`` against a one-neuron Keras network (Dense(1, sigmoid),
SGD, binary cross-entropy, 100 epochs, batch 32) on ``make_classification``'s 1,000
points (2 informative features, random_state 42), split 80/20 with random_state 42.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from litelab.errors import LitelabError
from litelab.lazy import callable_module


@dataclass(frozen=True)
class Points:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def course_points(samples: int = 1000, seed: int = 42) -> Points:
    """The course's data set and split."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    if samples < 10:
        raise LitelabError(f"--samples must be at least 10, got {samples}")
    x, y = make_classification(
        n_samples=samples,
        n_features=2,
        n_classes=2,
        n_informative=2,
        n_redundant=0,
        random_state=seed,
    )
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed)
    return Points(x_train, y_train, x_test, y_test)


def report(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Accuracy, confusion matrix and classification report (scikit-learn's)."""
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=[0, 1]).tolist(),
        "classification_report": classification_report(
            y_true, y_pred, labels=[0, 1], output_dict=True, zero_division=0
        ),
    }


def fit_sklearn(points: Points) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(points.x_train, points.y_train)


def fit_keras(
    points: Points,
    *,
    epochs: int = 100,
    batch_size: int = 32,
    learning_rate: float = 0.01,
    seed: int = 42,
) -> Any:
    """Dense(1, sigmoid) trained by SGD on binary cross-entropy (Keras' 'sgd' rate 0.01)."""
    import keras

    if epochs < 1:
        raise LitelabError(f"--epochs must be at least 1, got {epochs}")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input(shape=(2,)), keras.layers.Dense(1, activation="sigmoid")],
        name="logistic_regression",
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(points.x_train, points.y_train, epochs=epochs, batch_size=batch_size, verbose=0)
    return model


def keras_predict(model: Any, x: np.ndarray) -> np.ndarray:
    """Class 0/1 from the sigmoid output (threshold 0.5)."""
    return (np.asarray(model.predict(x.astype(np.float32), verbose=0))[:, 0] >= 0.5).astype(int)


# litelab.basics.logistic() in a notebook: the module is also litelab.api.logistic.
callable_module(__name__, "litelab.api:logistic")
