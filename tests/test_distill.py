"""Distillation (`--teacher`): the loss, the run that records its teacher and keeps the
student alone, resuming, and the one-line errors. Real trainings on the toy colours."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile

import keras
import numpy as np
import pytest

from litelab.cli import main
from litelab.config import resolve_config
from litelab.distill import Distiller, load_teacher
from litelab.errors import LitelabError
from litelab.inference import predict_probs
from litelab.jobs import run
from litelab.models import build_model
from litelab.train import train
from litelab.zoo.publish import publish


@pytest.fixture(scope="module")
def teacher_run(toy_colours, tmp_path_factory):
    """A lenet5 trained 3 epochs on the toy colours: a teacher that knows red from blue."""
    root = tmp_path_factory.mktemp("teacher")
    cfg = resolve_config(None, {"source": "toy"}, {"model": "lenet5", "epochs": 3}, str(root))
    result = run(cfg, data=toy_colours, run_name="lenet", evaluate=False, progress=False, verbose=0)
    return result.run_dir


def test_the_soft_loss_is_t_squared_kl_of_the_softened_predictions():
    student = build_model("tiny", (32, 32, 3), 3)
    d = Distiller(student, build_model("tiny", (32, 32, 3), 3), temperature=2.0, alpha=0.5)
    t = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype="float32")
    s = np.array([[0.3, 0.3, 0.4], [0.2, 0.5, 0.3]], dtype="float32")
    soft_t = t**0.5 / (t**0.5).sum(1, keepdims=True)  # softmax(log p / T) = p^(1/T), renormed
    soft_s = s**0.5 / (s**0.5).sum(1, keepdims=True)
    expected = (soft_t * np.log(soft_t / soft_s)).sum(1).mean() * 2.0**2
    got = float(keras.ops.convert_to_numpy(d.soft_loss(t, s)))
    assert got == pytest.approx(expected, rel=1e-5)
    assert float(keras.ops.convert_to_numpy(d.soft_loss(t, t))) == pytest.approx(0.0, abs=1e-6)


def test_a_run_with_a_teacher_records_it_and_saves_the_student_alone(
    teacher_run, toy_npz, tmp_path, capsys
):
    out = tmp_path / "student"
    args = ["run", "--data", str(toy_npz), "--model", "tiny", "--epochs", "1", "--quiet"]
    args += ["--teacher", str(teacher_run), "--distill-temperature", "3", "--out", str(out)]
    assert main(args) == 0
    assert "test accuracy" in capsys.readouterr().out
    config = (out / "config.toml").read_text()
    assert f'teacher = "{teacher_run}"' in config
    assert "distill_temperature = 3.0" in config and "distill_alpha = 0.9" in config
    teacher = json.loads((out / "metrics.json").read_text())["teacher"]
    assert teacher["source"] == str(teacher_run)
    assert (teacher["temperature"], teacher["alpha"], teacher["targets"]) == (3.0, 0.9, "cached")
    assert teacher["params"] == build_model("lenet5", (32, 32, 3), 2).count_params()
    digest = hashlib.sha256((teacher_run / "model.keras").read_bytes()).hexdigest()
    assert teacher["sha256"] == digest  # the very file that taught it
    saved = keras.models.load_model(out / "model.keras")
    assert not isinstance(saved, Distiller)
    assert saved.count_params() == build_model("tiny", (32, 32, 3), 2).count_params()
    with zipfile.ZipFile(out / "model.keras") as z:
        assert "Distiller" not in z.read("config.json").decode()


def test_cached_tta_targets_average_the_teacher_on_each_image_and_its_mirror(toy_colours, tmp_path):
    """``cached-tta``: each batch's soft targets are the teacher's predictions on the batch
    and on its mirror image, averaged; plain ``cached`` keeps the one-sided prediction."""
    import tensorflow as tf

    from litelab.distill import cached_targets
    from litelab.train import make_dataset

    keras.utils.set_random_seed(5)
    teacher = build_model("lenet5", (32, 32, 3), 2)  # untrained: not mirror-symmetric
    d = Distiller(build_model("tiny", (32, 32, 3), 2), teacher)
    training = {"model": "tiny", "epochs": 1, "batch_size": 32, "augment": []}
    targets = {}
    for how in ("cached", "cached-tta"):
        extra = {"teacher": "unused", "distill_targets": how}
        cfg = resolve_config(None, {"source": "toy"}, training | extra, str(tmp_path)).training
        ds = cached_targets(d, toy_colours, cfg, None, make_dataset)
        images, (_, soft) = next(iter(ds))
        targets[how] = soft.numpy()
    one_side = teacher(images, training=False).numpy()
    mirror = teacher(tf.reverse(images, axis=[2]), training=False).numpy()
    assert np.abs(one_side - mirror).max() > 1e-3  # so the two kinds can differ
    np.testing.assert_allclose(targets["cached"], one_side, atol=1e-5)
    np.testing.assert_allclose(targets["cached-tta"], (one_side + mirror) / 2, atol=1e-5)


def test_the_student_learns_from_the_teacher_not_only_the_labels(
    teacher_run, toy_colours, tmp_path
):
    """With alpha = 1 the labels do not count: a student given shuffled labels still learns
    the teacher's answers, from cached or per-batch soft targets; without the teacher, the
    same shuffled labels teach nothing."""
    rng = np.random.default_rng(3)
    noisy = dataclasses.replace(
        toy_colours,
        y_train=rng.permutation(toy_colours.y_train),
        y_val=rng.permutation(toy_colours.y_val),
    )

    def accuracy(model):
        probs = predict_probs(model, toy_colours.x_test)
        return float((probs.argmax(1) == toy_colours.y_test).mean())

    accuracies = {"itself": accuracy(keras.models.load_model(teacher_run / "model.keras"))}
    teacher = {"teacher": str(teacher_run), "distill_alpha": 1.0}
    for name, extra in (
        ("cached", teacher),  # the default
        ("augmented", {**teacher, "distill_targets": "augmented"}),
        ("labels", {}),
    ):
        training = {"model": "lenet5", "epochs": 4, "seed": 1, **extra}
        cfg = resolve_config(None, {"source": "toy"}, training, str(tmp_path)).training
        accuracies[name] = accuracy(train(cfg, noisy, tmp_path / name, verbose=0).model)
    assert accuracies["itself"] >= 0.9, accuracies
    assert accuracies["cached"] >= 0.9 and accuracies["augmented"] >= 0.9, accuracies
    assert accuracies["labels"] < 0.8, accuracies


def test_a_distilled_run_resumes_with_its_teacher(teacher_run, toy_colours, tmp_path):
    from litelab.train import StopAfterEpochs

    training = {"model": "tiny", "epochs": 2, "teacher": str(teacher_run)}
    training |= {"distill_targets": "augmented"}  # the teacher inside the checkpointed model
    cfg = resolve_config(None, {"source": "toy"}, training, str(tmp_path))
    quiet = {"evaluate": False, "progress": False, "verbose": 0}
    with pytest.raises(KeyboardInterrupt):
        run(cfg, data=toy_colours, callbacks=[StopAfterEpochs(1)], **quiet)
    (run_dir,) = tmp_path.iterdir()
    result = run(resume=run_dir, data=toy_colours, progress=False, verbose=0)  # evaluated
    assert result.metrics["epochs_run"] == 2
    assert result.metrics["teacher"]["source"] == str(teacher_run)
    digest = hashlib.sha256((teacher_run / "model.keras").read_bytes()).hexdigest()
    assert result.metrics["teacher"]["sha256"] == digest  # through the checkpoint too
    assert not isinstance(result.model, Distiller)
    assert len((run_dir / "history.csv").read_text().splitlines()) == 3
    # its zoo card says which teacher file taught it: the teacher may be the very zoo
    # entry that the student replaces
    entry = publish(
        run_dir, "student", data=toy_colours, goal="a test", command="litelab run",
        root=tmp_path / "zoo",
    )  # fmt: skip
    card = json.loads((entry.folder / "card.json").read_text())
    assert card["training"]["teacher"] == result.metrics["teacher"]
    assert "init" not in card["training"]


def test_a_teacher_of_other_classes_is_a_one_line_error(teacher_run, toy_npz, tmp_path, capsys):
    with pytest.raises(LitelabError, match="outputs 2 classes but the data has 3"):
        load_teacher(teacher_run, 32, ["red", "blue", "green"])
    with pytest.raises(LitelabError, match=r"other class names .*'red' vs 'blue'"):
        load_teacher(teacher_run, 32, ["blue", "red"])
    with pytest.raises(LitelabError, match="expects input shape"):
        load_teacher(teacher_run, 64, ["red", "blue"])
    args = ["run", "--data", str(toy_npz), "--model", "tiny", "--epochs", "1", "--quiet"]
    args += ["--runs-dir", str(tmp_path / "runs")]
    for extra, message in (
        (["--teacher", "zoo:mcu"], "outputs 10 classes but the data has 2"),
        (["--teacher", str(tmp_path / "nope")], "not found"),
        (["--distill-alpha", "0.5"], "--distill-alpha needs --teacher"),
        (["--teacher", str(teacher_run), "--distill-alpha", "1.5"], "must be in [0, 1]"),
        (["--teacher", str(teacher_run), "--distill-temperature", "0"], "greater than 0"),
        (["--teacher", str(teacher_run), "--distill-targets", "x"], "choose one of cached"),
    ):
        assert main(args + extra) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("litelab: error:") and message in err and "\n" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
