"""The fast-training machinery: batch-wise augmentation, schedules, optimizer, pipeline."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from litelab import augment
from litelab.cli import main
from litelab.config import AUGMENTATIONS, TrainingConfig, resolve_config
from litelab.errors import LitelabError
from litelab.jobs import run
from litelab.runs import Run
from litelab.train import OneCycle, learning_rate, make_dataset, make_optimizer


def _images(n=16, h=32, seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.random((n, h, h, 3), dtype=np.float32) + 0.5)  # no zeros


SEED = tf.constant([3, 4], tf.int64)


def test_every_configurable_augmentation_has_an_op_and_no_op_is_unreachable():
    from litelab.config import BATCHED_AUGMENTATIONS, LAYER_AUGMENTATIONS

    assert set(augment.BATCH_OPS) == set(BATCHED_AUGMENTATIONS)
    assert set(augment.LAYER_OPS) == set(LAYER_AUGMENTATIONS)
    assert set(AUGMENTATIONS) == set(BATCHED_AUGMENTATIONS) | set(LAYER_AUGMENTATIONS)
    layers = augment.augmentation_layers(("shift", "rotation", "flip"), seed=1)
    assert [type(la).__name__ for la in layers] == ["RandomTranslation", "RandomRotation"]


def test_flip_mirrors_some_images_and_leaves_the_rest():
    x = _images(64)
    out = augment.random_flip(x, SEED).numpy()
    mirrored = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x.numpy(), strict=True)]
    same = [np.array_equal(o, i) for o, i in zip(out, x.numpy(), strict=True)]
    assert all(m or s for m, s in zip(mirrored, same, strict=True))
    assert 10 < sum(mirrored) < 54


def test_crop_is_a_window_of_the_reflect_padded_image():
    x = _images(8)
    out = augment.random_crop(x, SEED, pad=4).numpy()
    padded = np.pad(x.numpy(), [(0, 0), (4, 4), (4, 4), (0, 0)], mode="reflect")
    shifts = []
    for o, p in zip(out, padded, strict=True):
        hits = [
            (dy, dx)
            for dy in range(9)
            for dx in range(9)
            if np.array_equal(o, p[dy : dy + 32, dx : dx + 32])
        ]
        assert hits, "crop is not a window of the padded image"
        shifts.append(hits[0])
    assert len(set(shifts)) > 1  # images in a batch get their own offsets
    assert np.array_equal(augment.random_crop(x, SEED, pad=0).numpy(), x.numpy())


def test_cutout_zeroes_one_square_at_most():
    x = _images(32)
    out = augment.random_cutout(x, SEED, size=8).numpy()
    zeros = (out == 0).all(axis=-1)
    counts = zeros.reshape(32, -1).sum(axis=1)
    assert counts.max() == 64 and counts.min() > 0 and (counts <= 64).all()
    for z in zeros:  # the zeroed pixels form one rectangle
        rows, cols = np.nonzero(z)
        assert z[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()
    kept = ~zeros[..., None].repeat(3, -1)
    assert np.array_equal(out[kept], x.numpy()[kept])


def test_augment_batch_is_reproducible_from_its_seed():
    x = _images(16)
    names = ("flip", "crop", "cutout")
    a = augment.augment_batch(x, names, SEED).numpy()
    b = augment.augment_batch(x, names, SEED).numpy()
    c = augment.augment_batch(x, names, tf.constant([3, 5], tf.int64)).numpy()
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_one_cycle_ramps_up_then_down_and_round_trips():
    s = OneCycle(0.4, total_steps=100, warmup_steps=20)
    values = [float(s(i)) for i in (0, 10, 20, 60, 100, 150)]
    assert values == pytest.approx([0.0, 0.2, 0.4, 0.2, 0.0, 0.0])
    again = OneCycle.from_config(s.get_config())
    assert float(again(50)) == pytest.approx(float(s(50)))


def test_learning_rate_follows_the_config():
    cfg = TrainingConfig(learning_rate=0.1, epochs=4, schedule="cosine", warmup=0.25)
    lr = learning_rate(cfg, steps_per_epoch=10)
    assert float(lr(0)) == pytest.approx(0.0)
    assert float(lr(10)) == pytest.approx(0.1)
    assert float(lr(25)) == pytest.approx(0.05, abs=1e-6)
    assert learning_rate(TrainingConfig(learning_rate=0.01), 10) == 0.01


def test_exponential_schedule_steps_down_once_an_epoch():
    cfg = TrainingConfig(learning_rate=1e-3, schedule="exponential", lr_decay=0.5)
    lr = learning_rate(cfg, steps_per_epoch=10)
    values = [float(lr(step)) for step in (0, 9, 10, 19, 25, 30)]
    assert values == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 1.25e-4])


def test_resnet8_defaults_to_mlperf_tiny_s_own_recipe():
    t = resolve_config(None, None, {"model": "resnet8"}).training
    assert (t.optimizer, t.learning_rate, t.batch_size) == ("adam", 1e-3, 32)
    assert (t.schedule, t.lr_decay) == ("exponential", 0.99)
    assert set(t.augment) == {"flip", "shift", "rotation"}
    lr = learning_rate(t, steps_per_epoch=100)
    assert float(lr(100 * 50)) == pytest.approx(1e-3 * 0.99**50, rel=1e-5)


def test_time_budget_stops_before_an_epoch_that_would_overrun():
    from litelab.train import TimeBudget

    class Seen:  # what TimeBudget reads of the run's EpochCheckpoint
        seconds = 10.0
        history = {"epoch_seconds": [4.0, 6.0]}  # mean 5: the next epoch ends at 15 s

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    for budget, stops in ((14.9, True), (15.0, False), (100.0, False)):
        cb = TimeBudget(budget, Seen())
        cb.set_model(model)
        model.stop_training = False
        cb.on_epoch_end(1)
        assert (cb.stopped, model.stop_training) == (stops, stops)


@pytest.mark.parametrize("budget,epochs_run", [(1e-3, 1), (1e6, 3)])
def test_a_run_with_a_time_budget_ends_early_and_says_so(tmp_path, toy_colours, budget, epochs_run):
    over = {"model": "tiny", "epochs": 3, "batch_size": 64, "time_budget": budget}
    cfg = resolve_config(None, {"source": "toy"}, over, str(tmp_path))
    m = run(cfg, data=toy_colours, progress=False, verbose=0).metrics
    assert m["epochs_run"] == epochs_run
    assert m["stopped_by_time_budget"] is (epochs_run < 3)
    (run_dir,) = tmp_path.iterdir()
    run_folder = Run.open(run_dir)
    assert len(run_folder.history["loss"]) == epochs_run
    assert run_folder.config.training.time_budget == budget


def test_nesterov_optimizer_and_decay_that_spares_bn_and_bias():
    opt = make_optimizer("nesterov", 0.1, weight_decay=5e-4)
    assert isinstance(opt, keras.optimizers.SGD)
    assert opt.nesterov and opt.momentum == pytest.approx(0.9)
    model = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3), keras.layers.BatchNormalization()]
    )
    kernel, bias, gamma, beta = model.weights[:4]
    for v in (kernel, bias, gamma, beta):
        v.assign(keras.ops.ones_like(v))
    opt.build(model.trainable_variables)
    opt.apply([keras.ops.zeros_like(v) for v in model.trainable_variables])
    assert float(keras.ops.max(kernel)) < 1.0  # decayed
    for v in (bias, gamma, beta):
        assert float(keras.ops.min(v)) == 1.0  # spared


def test_dataset_shuffles_every_index_once_per_epoch_and_repeats():
    n = 50
    x = np.arange(n, dtype=np.uint8)[:, None, None, None].repeat(2, 1).repeat(2, 2)
    x = x.repeat(3, 3)
    y = np.arange(n) % 10
    ds = make_dataset(x, y, 16, shuffle=True, seed=1, repeat=True, one_hot=10)
    batches = list(ds.take(8))  # 4 batches per epoch (16, 16, 16, 2)
    assert [len(b[0]) for b in batches] == [16, 16, 16, 2] * 2
    for epoch in (batches[:4], batches[4:]):
        seen = np.concatenate([np.round(b[0].numpy()[:, 0, 0, 0] * 255) for b in epoch])
        assert sorted(seen.astype(int)) == list(range(n))
    first = np.concatenate([b[0].numpy()[:, 0, 0, 0] for b in batches[:4]])
    second = np.concatenate([b[0].numpy()[:, 0, 0, 0] for b in batches[4:]])
    assert not np.array_equal(first, second)  # reshuffled
    labels = batches[0][1].numpy()
    assert labels.shape == (16, 10) and (labels.sum(axis=1) == 1).all()


@pytest.mark.parametrize(
    "values,needle",
    [
        ({"schedule": "sawtooth"}, "unknown schedule 'sawtooth'"),
        ({"warmup": 1.5}, "--warmup must be in [0, 1)"),
        ({"label_smoothing": -0.1}, "--label-smoothing must be in [0, 1)"),
        ({"weight_decay": 2.0}, "--weight-decay must be in [0, 1)"),
        ({"augment": ("mixup",)}, "unknown augmentation 'mixup'"),
        ({"lr_decay": 0.0}, "--lr-decay must be in (0, 1]"),
        ({"lr_decay": 1.5}, "--lr-decay must be in (0, 1]"),
        ({"time_budget": 0.0}, "--time-budget must be greater than 0 seconds"),
        ({"time_budget": -60.0}, "--time-budget must be greater than 0 seconds"),
    ],
)
def test_bad_recipe_values_are_litelab_errors(values, needle):
    with pytest.raises(LitelabError) as err:
        TrainingConfig(**values)
    assert needle in str(err.value)


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--schedule", "sawtooth"], "unknown schedule 'sawtooth'"),
        (["--time-budget", "-5"], "--time-budget must be greater than 0 seconds"),
        (["--lr-decay", "2"], "--lr-decay must be in (0, 1]"),
    ],
)
def test_cli_rejects_a_bad_schedule_or_budget_in_one_line(tmp_path, capsys, flags, needle):
    assert main(["run", *flags, "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not any(tmp_path.iterdir())


def test_fast_recipe_trains_resumes_and_reports_tta(tmp_path, toy_colours):
    from litelab.train import StopAfterEpochs

    data = toy_colours
    # a toy-sized run: small batches and a gentler peak so BN's moving stats keep up
    over = {"model": "fastnet", "epochs": 4, "batch_size": 16, "learning_rate": 0.02}
    cfg = resolve_config(None, {"source": "toy"}, over, str(tmp_path))
    assert cfg.training.schedule == "onecycle" and cfg.training.tta
    with pytest.raises(KeyboardInterrupt):
        run(cfg, data=data, progress=False, verbose=0, callbacks=[StopAfterEpochs(2)])
    (run_dir,) = tmp_path.iterdir()
    result = run(resume=run_dir, data=data, progress=False, verbose=0)
    m = result.metrics
    assert m["epochs_run"] == 4 and m["tta"] is True
    assert 0.0 <= m["test_accuracy_without_tta"] <= 1.0
    assert m["test_accuracy"] > 0.8  # the colours are easy
    # the schedule came back from the checkpoint and ran to its end
    lr = result.model.optimizer.learning_rate
    assert float(lr) == pytest.approx(0.0, abs=1e-6)
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["test_accuracy"] == m["test_accuracy"]
    # a fresh process loads the saved model (litelab's BatchNorm registers itself on load)
    code = (
        "import sys; from litelab.inference import load_model; "
        "print(load_model(sys.argv[1]).count_params())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(run_dir / "model.keras")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == str(result.model.count_params())


def test_fused_batchnorm_trains_like_keras_and_infers_identically():
    from litelab.models.layers import BatchNorm

    x = np.random.default_rng(0).normal(2, 3, (8, 5, 5, 4)).astype("float32")
    ref, fused = keras.layers.BatchNormalization(momentum=0.9), BatchNorm(momentum=0.9)
    ref.build(x.shape)
    fused.build(x.shape)
    np.testing.assert_allclose(fused(x, training=True), ref(x, training=True), atol=1e-5)
    np.testing.assert_allclose(fused.moving_mean, ref.moving_mean, atol=1e-6)
    # TF's fused kernel keeps the unbiased (n-1) batch variance in the moving average
    n = 8 * 5 * 5
    expected = 0.9 + 0.1 * x.reshape(-1, 4).var(axis=0) * n / (n - 1)
    np.testing.assert_allclose(fused.moving_variance, expected, rtol=1e-4)
    fused.moving_variance.assign(ref.moving_variance)
    np.testing.assert_allclose(fused(x), ref(x), atol=1e-6)  # inference: the stock layer


def test_fused_batchnorm_gradients_match_keras():
    from litelab.models.layers import BatchNorm

    x = tf.constant(np.random.default_rng(1).normal(0, 2, (4, 3, 3, 2)).astype("float32"))
    grads = []
    for layer in (keras.layers.BatchNormalization(), BatchNorm()):
        layer.build(x.shape)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) ** 3)
        grads.append(tape.gradient(loss, [x, *layer.trainable_weights]))
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_named_recipe_sits_between_the_model_recipe_and_flags():
    cfg = resolve_config(None, {"source": "x"}, {}, recipe="fast")
    assert cfg.training.model == "fastnet" and cfg.data.val_split == 0.0
    assert cfg.training.optimizer == "nesterov" and cfg.training.tta
    over = resolve_config(
        {"training": {"epochs": 3}}, {"val_split": 0.1}, {"batch_size": 64}, recipe="fast"
    )
    assert (over.training.epochs, over.training.batch_size, over.data.val_split) == (3, 64, 0.1)
    other = resolve_config(None, None, {"model": "tiny"}, recipe="fast")
    assert other.training.model == "tiny" and other.data.val_split == 0.0
    names = "fast, mcu, mcu-distill, best, esp-eye-air, esp-eye-kd, esp-eye"
    with pytest.raises(LitelabError, match=f"unknown recipe 'slow'; choose one of {names}"):
        resolve_config(None, None, None, recipe="slow")


def test_esp_eye_recipe_is_the_fast_recipe_trained_longer():
    fast = resolve_config(None, {"source": "x"}, {}, recipe="fast")
    esp = resolve_config(None, {"source": "x"}, {}, recipe="esp-eye")
    assert esp.training.model == fast.training.model == "fastnet"
    assert (fast.training.epochs, esp.training.epochs) == (8, 30)
    assert esp.data.val_split == 0.0
    same = ("optimizer", "learning_rate", "schedule", "augment", "label_smoothing", "tta")
    assert all(getattr(esp.training, k) == getattr(fast.training, k) for k in same)
    assert resolve_config(None, None, {"epochs": 2}, recipe="esp-eye").training.epochs == 2


def test_mcu_distill_recipe_is_the_mcu_recipe_taught_by_the_shipped_esp_eye_model():
    """The recipe names a shipped teacher, and that teacher loads and knows CIFAR-10's
    classes in the order the data gives them: the run would fail at once otherwise."""
    from litelab.data.cifar import CIFAR10_CLASSES
    from litelab.distill import load_teacher

    mcu = resolve_config(None, {"source": "x"}, {}, recipe="mcu")
    kd = resolve_config(None, {"source": "x"}, {}, recipe="mcu-distill")
    assert kd.training.model == mcu.training.model == "mcunet"
    assert (mcu.training.teacher, kd.training.teacher) == (None, "zoo:esp-eye")
    assert (mcu.training.epochs, kd.training.epochs) == (30, 60)
    assert (kd.training.distill_temperature, kd.training.distill_alpha) == (4.0, 0.9)
    assert kd.training.distill_targets == "cached" and not kd.training.tta
    same = ("optimizer", "learning_rate", "schedule", "augment", "label_smoothing", "batch_size")
    assert all(getattr(kd.training, k) == getattr(mcu.training, k) for k in same)
    teacher = load_teacher(kd.training.teacher, 32, list(CIFAR10_CLASSES))
    assert teacher.labels == list(CIFAR10_CLASSES) and not teacher.model.trainable


def test_best_recipe_is_airnet_on_the_whole_split_with_the_fast_recipe_at_batch_512():
    fast = resolve_config(None, {"source": "x"}, {}, recipe="fast")
    best = resolve_config(None, {"source": "x"}, {}, recipe="best")
    assert best.training.model == "airnet" and best.data.val_split == 0.0
    assert (best.training.epochs, best.training.batch_size) == (8, 512)
    # the fast recipe's learning rate, scaled with the batch (256 -> 512)
    assert best.training.learning_rate == 2 * fast.training.learning_rate
    same = ("optimizer", "schedule", "warmup", "augment", "label_smoothing", "weight_decay", "tta")
    assert all(getattr(best.training, k) == getattr(fast.training, k) for k in same)


def test_esp_eye_air_recipe_is_the_best_recipe_on_a_narrower_airnet_trained_longer():
    best = resolve_config(None, {"source": "x"}, {}, recipe="best")
    esp = resolve_config(None, {"source": "x"}, {}, recipe="esp-eye-air")
    assert esp.training.model == "airnet" and esp.training.model_options == {
        "widths": [64, 176, 176]
    }
    assert (best.training.epochs, esp.training.epochs) == (8, 20) and esp.data.val_split == 0.0
    same = ("optimizer", "learning_rate", "batch_size", "schedule", "augment", "tta")
    assert all(getattr(esp.training, k) == getattr(best.training, k) for k in same)


def test_esp_eye_kd_recipe_is_the_esp_eye_air_recipe_taught_by_its_own_shipped_model():
    """Born-again distillation: the student is esp-eye-air's network and recipe, and the
    teacher the shipped zoo:esp-eye, which must load with CIFAR-10's classes in order."""
    from litelab.data.cifar import CIFAR10_CLASSES
    from litelab.distill import load_teacher

    air = resolve_config(None, {"source": "x"}, {}, recipe="esp-eye-air")
    kd = resolve_config(None, {"source": "x"}, {}, recipe="esp-eye-kd")
    assert kd.training.model == air.training.model == "airnet"
    assert kd.training.model_options == air.training.model_options == {"widths": [64, 176, 176]}
    assert (air.training.teacher, kd.training.teacher) == (None, "zoo:esp-eye")
    assert kd.training.distill_targets == "cached-tta"
    assert (kd.training.distill_temperature, kd.training.distill_alpha) == (4.0, 0.9)
    assert kd.data.val_split == 0.0 and air.training.distill_targets is None
    same = ("epochs", "optimizer", "learning_rate", "batch_size", "schedule", "augment", "tta")
    assert all(getattr(kd.training, k) == getattr(air.training, k) for k in same)
    teacher = load_teacher(kd.training.teacher, 32, list(CIFAR10_CLASSES))
    assert teacher.labels == list(CIFAR10_CLASSES)


def test_measuring_a_finished_run_keeps_its_training_measurement_s_timings(tmp_path):
    """benchmarks/fast_recipe.py --run rewrites the recipe's result file: the course-script
    timing and wall time written when that same run folder was trained survive."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fast_recipe.py"
    spec = importlib.util.spec_from_file_location("fast_recipe_under_test", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    out = tmp_path / "esp-eye-air_recipe.json"
    course = {"fit_seconds": 174.0}
    out.write_text(
        json.dumps(
            {"run_dir": str(run_dir), "course_script": course, "wall_seconds_whole_command": 2049}
        )
    )
    assert bench.trained_figures(out, run_dir, None) == (course, 2049)
    assert bench.trained_figures(out, tmp_path / "runs" / "other", None) == (None, None)
    assert bench.trained_figures(tmp_path / "missing.json", run_dir, None) == (None, None)
    out.write_text("{not json")
    assert bench.trained_figures(out, run_dir, None) == (None, None)
