"""airnet: airbench94's network, whose first layer is whitened from the training images."""

import keras
import numpy as np
import pytest

from litelab.config import TrainingConfig
from litelab.models import build_model, get_model_spec
from litelab.models.fast import WHITEN_EPS, WHITEN_LAYER, fit_whitening


def correlated_images(n=64, seed=0):
    """Images whose channels and neighbouring pixels are strongly correlated, as photos are."""
    rng = np.random.default_rng(seed)
    grey = rng.integers(0, 200, (n, 17, 17, 1)).repeat(2, axis=1).repeat(2, axis=2)[:, :32, :32]
    tint = rng.integers(0, 50, (n, 32, 32, 3))
    return np.clip(grey + tint, 0, 255).astype(np.uint8)


def whitened(model, images):
    layer = keras.Model(model.input, model.get_layer(WHITEN_LAYER).output)
    return layer.predict(images.astype("float32") / 255.0, verbose=0)


def test_whitening_decorrelates_the_patches_it_was_fitted_on():
    model = build_model("airnet")
    images = correlated_images()
    raw = np.lib.stride_tricks.sliding_window_view(images / 255.0, (2, 2), axis=(1, 2))
    raw_cov = np.corrcoef(raw.reshape(-1, 12), rowvar=False)
    assert np.abs(raw_cov - np.eye(12)).max() > 0.5  # the input really is correlated
    fit_whitening(model, images)
    out = whitened(model, images).reshape(-1, 24)
    np.testing.assert_allclose(out[:, 12:], -out[:, :12], atol=1e-5)  # each filter both signs
    cov = np.cov(out[:, :12], rowvar=False)
    off = cov - np.diag(np.diag(cov))
    assert np.abs(off).max() < 1e-3 * np.diag(cov).max()
    # unit variance along every direction the data spreads in more than the epsilon
    eig = np.linalg.eigvalsh(np.cov(raw.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 12), rowvar=False))
    np.testing.assert_allclose(np.sort(np.diag(cov)), np.sort(eig / (eig + WHITEN_EPS)), rtol=1e-3)


def test_whitening_layer_stays_frozen_through_training():
    model = build_model("airnet", num_classes=2)
    images = correlated_images(16)
    fit_whitening(model, images)
    layer = model.get_layer(WHITEN_LAYER)
    before = [w.copy() for w in layer.get_weights()]
    assert not layer.trainable and all(w is not layer.kernel for w in model.trainable_weights)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    model.fit(images / 255.0, np.arange(16) % 2, batch_size=8, epochs=1, verbose=0)
    for old, new in zip(before, layer.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_a_fresh_run_whitens_from_its_training_images_and_not_the_test_split(toy_colours):
    from litelab.distill import build_training_model

    cfg = TrainingConfig(model="airnet")
    model, student = build_training_model(cfg, toy_colours)
    assert model is student and get_model_spec("airnet").prepare is fit_whitening
    kernel = student.get_layer(WHITEN_LAYER).get_weights()[0]
    from_train, from_test = (
        build_model("airnet", num_classes=2),
        build_model("airnet", num_classes=2),
    )
    fit_whitening(from_train, toy_colours.x_train)
    fit_whitening(from_test, toy_colours.x_test)
    np.testing.assert_allclose(kernel, from_train.get_layer(WHITEN_LAYER).get_weights()[0])
    assert not np.allclose(kernel, from_test.get_layer(WHITEN_LAYER).get_weights()[0], atol=1e-3)


@pytest.mark.parametrize("name", ["fastnet", "mcunet", "baseline"])
def test_models_without_data_dependent_weights_have_no_prepare_step(name):
    assert get_model_spec(name).prepare is None


def test_airnet_learns_a_toy_task_through_litelab_train(tmp_path, toy_colours):
    from litelab.train import train

    cfg = TrainingConfig(model="airnet", epochs=3, batch_size=32, optimizer="nesterov",
                         learning_rate=0.05, schedule="onecycle", warmup=0.2)  # fmt: skip
    result = train(cfg, toy_colours, tmp_path, verbose=0)
    pred = result.model.predict(toy_colours.x_test / 255.0, verbose=0).argmax(axis=1)
    assert np.mean(pred == toy_colours.y_test) >= 0.9


def test_widths_is_airnet_s_option_and_sizes_the_model():
    from litelab.export.inspect import inspect_keras
    from litelab.models.registry import model_options

    assert model_options("airnet") == ["widths"]
    full, small = build_model("airnet"), build_model("airnet", widths=[64, 176, 176])
    assert [full.count_params(), small.count_params()] == [1_975_096, 993_816]
    assert inspect_keras(small)["macs"] < 0.7 * inspect_keras(full)["macs"]


@pytest.mark.parametrize("widths", [[64, 128], [64, 0, 128], [1, 2, 3, 4]])
def test_bad_widths_are_one_line_errors(widths):
    from litelab.errors import LitelabError

    with pytest.raises(LitelabError, match="widths must be 3 positive integers"):
        build_model("airnet", widths=widths)


def test_a_recipe_s_model_options_reach_the_config_and_flags_still_win(monkeypatch):
    from litelab import config

    monkeypatch.setitem(
        config.RECIPES,
        "tiny-air",
        {"description": "x", "data": {}, "training": {"model": "airnet",
                                                     "model_options": {"widths": [8, 16, 16]}}},
    )  # fmt: skip
    named = config.resolve_config(None, {"source": "x"}, {}, recipe="tiny-air")
    assert named.training.model_options == {"widths": [8, 16, 16]}
    flag = config.resolve_config(
        None, None, {"model_options": {"widths": [8, 8, 8]}}, recipe="tiny-air"
    )
    assert flag.training.model_options == {"widths": [8, 8, 8]}
