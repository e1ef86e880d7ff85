"""Linear regression, the course's first warm-up (seed 001): house size -> price.

Three fits of the same line: scikit-learn's ``LinearRegression`` (the normal equation, in
one step), a one-neuron Keras network trained by SGD on standardised data (zeros init, MSE),
and the same network with its learning rate and epochs tuned by keras-tuner.

A network trained on standardised data learns ``y' = w x' + b`` with
``x' = (x - mx) / sx`` and ``y' = (y - my) / sy``. In the original units that is

    price = (w sy / sx) * size + (my + sy * (b - w mx / sx))

:func:`unscale` does both halves (the course converts only the bias back).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from litelab.errors import LitelabError
from litelab.lazy import callable_module

SMALL_SIZES = (1000.0, 1500.0, 2000.0, 2500.0, 3000.0)
SMALL_TRUE_PRICES = (200.0, 250.0, 300.0, 350.0, 400.0)  # price = 0.1 * size + 100
SMALL_TRUE = (0.1, 100.0)  # (slope, intercept)
LARGE_TRUE = (0.1, 200.0)  # price = 200 + 0.1 * size


@dataclass(frozen=True)
class HouseData:
    """Sizes ``x`` (n, 1), prices ``y`` (n, 1), and the line they were drawn from."""

    x: np.ndarray
    y: np.ndarray
    true_slope: float
    true_intercept: float
    name: str


def small_houses(seed: int = 42, noise: float = 15.0) -> HouseData:
    """The course's 5 houses: prices on a line plus N(0, ``noise``) noise."""
    _check_noise(noise)
    rng = np.random.RandomState(seed)  # the course's np.random.seed(42) stream
    x = np.array(SMALL_SIZES, dtype=float).reshape(-1, 1)
    y_true = np.array(SMALL_TRUE_PRICES, dtype=float).reshape(-1, 1)
    y = y_true + rng.normal(0, noise, size=y_true.shape)
    return HouseData(x, y, *SMALL_TRUE, name="5 houses")


def many_houses(rows: int = 10_000, seed: int = 42, noise: float = 20.0) -> HouseData:
    """The course's large set: sizes U(0, 1000), price = 200 + 0.1 size + N(0, ``noise``)."""
    _check_noise(noise)
    if rows < 2:
        raise LitelabError(f"--rows must be at least 2 (a line needs two points), got {rows}")
    rng = np.random.RandomState(seed)
    x = rng.rand(rows, 1) * 1000
    y = LARGE_TRUE[1] + LARGE_TRUE[0] * x + rng.randn(rows, 1) * noise
    return HouseData(x, y, *LARGE_TRUE, name=f"{rows:,} houses")


def _check_noise(noise: float) -> None:
    if not noise >= 0:
        raise LitelabError(f"--noise must be 0 or more, got {noise}")


@dataclass(frozen=True)
class Scaling:
    """Means and standard deviations of x and y (what StandardScaler learned)."""

    mx: float
    sx: float
    my: float
    sy: float

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> Scaling:
        from sklearn.preprocessing import StandardScaler

        sx_, sy_ = StandardScaler().fit(x), StandardScaler().fit(y)
        return cls(
            float(sx_.mean_[0]), float(sx_.scale_[0]), float(sy_.mean_[0]), float(sy_.scale_[0])
        )


def unscale(w: float, b: float, s: Scaling) -> tuple[float, float]:
    """(slope, intercept) in original units from a line fitted on standardised data."""
    slope = w * s.sy / s.sx
    intercept = s.my + s.sy * (b - w * s.mx / s.sx)
    return float(slope), float(intercept)


def fit_normal_equation(data: HouseData) -> tuple[float, float]:
    """scikit-learn's LinearRegression: (slope, intercept) in one step."""
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(data.x, data.y)
    return float(model.coef_[0][0]), float(model.intercept_[0])


@dataclass
class KerasFit:
    """A one-neuron Keras fit and its line in original units."""

    model: object
    slope: float
    intercept: float
    learning_rate: float
    epochs: int
    loss: list[float]


def one_neuron() -> object:
    """Dense(1) on one input, weights and bias starting at zero (as in the course)."""
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=(1,)),
            keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros"),
        ],
        name="linear_regression",
    )


def fit_keras_sgd(
    data: HouseData,
    *,
    learning_rate: float = 0.01,
    epochs: int = 100,
    batch_size: int = 32,
    seed: int = 42,
    patience: int | None = None,
) -> KerasFit:
    """SGD on MSE over standardised x and y; the line converted back to original units."""
    import keras

    if not learning_rate > 0:
        raise LitelabError(f"--lr must be greater than 0, got {learning_rate}")
    if epochs < 1:
        raise LitelabError(f"--epochs must be at least 1, got {epochs}")
    s = Scaling.fit(data.x, data.y)
    xs, ys = (data.x - s.mx) / s.sx, (data.y - s.my) / s.sy
    keras.utils.set_random_seed(seed)
    model = one_neuron()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss="mse")
    callbacks = []
    if patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="loss", patience=patience))
    history = model.fit(
        xs, ys, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=callbacks
    )
    w, b = model.layers[0].get_weights()
    slope, intercept = unscale(float(w[0][0]), float(b[0]), s)
    loss = [float(v) for v in history.history["loss"]]
    return KerasFit(model, slope, intercept, learning_rate, len(loss), loss)


def tune_keras_sgd(
    data: HouseData,
    directory: str,
    *,
    trials: int = 6,
    min_epochs: int = 10,
    max_epochs: int = 60,
    seed: int = 42,
) -> KerasFit:
    """keras-tuner over the learning rate (log 1e-4..1e-1) and, as seed 001's custom tuner
    does, the number of epochs; early stopping on the training loss. Returns the best,
    refitted."""
    import keras
    import keras_tuner as kt

    if trials < 1:
        raise LitelabError(f"--trials must be at least 1, got {trials}")
    s = Scaling.fit(data.x, data.y)
    xs, ys = (data.x - s.mx) / s.sx, (data.y - s.my) / s.sy

    class Line(kt.HyperModel):
        def build(self, hp):
            lr = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
            model = one_neuron()
            model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
            return model

        def fit(self, hp, model, *args, **kwargs):
            kwargs["epochs"] = hp.Int("epochs", min_epochs, max_epochs, step=10)
            return model.fit(*args, **kwargs)

    tuner = kt.RandomSearch(
        Line(),
        objective="loss",
        max_trials=trials,
        seed=seed,
        directory=directory,
        project_name="linear_sgd",
        overwrite=True,
    )
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=5, min_delta=1e-6)
    tuner.search(xs, ys, batch_size=32, callbacks=[stop], verbose=0)
    best = tuner.get_best_hyperparameters(1)[0]
    return fit_keras_sgd(
        data,
        learning_rate=float(best.get("learning_rate")),
        epochs=int(best.get("epochs")),
        seed=seed,
        patience=5,
    )


def mse(data: HouseData, slope: float, intercept: float) -> float:
    """Mean squared error of a line on the data, in price units squared."""
    return float(np.mean((data.y[:, 0] - (slope * data.x[:, 0] + intercept)) ** 2))


# litelab.basics.linear() in a notebook: the module is also litelab.api.linear.
callable_module(__name__, "litelab.api:linear")
