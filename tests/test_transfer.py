"""Transfer learning and ImageNet classification: weights files, freezing, fine-tuning,
offline errors, `litelab imagenet`. No network: every weights file is written here."""

from __future__ import annotations

import json

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

from litelab.cli import main
from litelab.errors import LitelabError
from litelab.models import build_model
from litelab.models.layers import ImageNetPreprocess
from litelab.models.pretrained import BACKBONES
from litelab.models.transfer import backbone_of, unfreeze_last

VGG_HEAD = (512 * 64 + 64) + (64 * 10 + 10)  # Flatten(1x1x512) -> Dense64 -> Dense10


@pytest.fixture(scope="module")
def weights_files(tmp_path_factory):
    """Random backbone weights in both formats Keras reads, plus a class index."""
    from keras.src.legacy.saving import legacy_h5_format

    d = tmp_path_factory.mktemp("weights")
    keras.utils.set_random_seed(1)
    mnv2 = BACKBONES["mobilenetv2"].build(96, include_top=False, alpha=0.35)
    mnv2.save_weights(d / "mnv2_notop.weights.h5")
    with h5py.File(d / "mnv2_notop_legacy.h5", "w") as f:  # the layout of Keras' downloads
        legacy_h5_format.save_weights_to_hdf5_group(f, mnv2)
    vgg = BACKBONES["vgg16"].build(32, include_top=False)
    vgg.save_weights(d / "vgg16_notop.weights.h5")
    top = BACKBONES["mobilenetv2"].build(224, include_top=True, alpha=0.35)
    top.save_weights(d / "mnv2_top.weights.h5")
    index = {str(i): [f"n{i:08d}", f"thing_{i}"] for i in range(1000)}
    (d / "class_index.json").write_text(json.dumps(index))
    return {
        "dir": d,
        "mnv2_kernel": mnv2.layers[1].get_weights()[0],
        "vgg_kernel": vgg.get_layer("block1_conv1").get_weights()[0],
    }


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty Keras cache and no network: every download fails as it does here."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    def no_network(fname, origin=None, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", no_network)


def test_weights_path_loads_into_the_backbone_in_both_formats(weights_files):
    d = weights_files["dir"]
    for name in ("mnv2_notop.weights.h5", "mnv2_notop_legacy.h5"):
        model = build_model("mobilenetv2-transfer", weights=str(d / name), alpha=0.35)
        kernel = backbone_of(model).layers[1].get_weights()[0]
        np.testing.assert_array_equal(kernel, weights_files["mnv2_kernel"])
    vgg = build_model("vgg16-transfer", weights=str(d / "vgg16_notop.weights.h5"))
    np.testing.assert_array_equal(
        backbone_of(vgg).get_layer("block1_conv1").get_weights()[0], weights_files["vgg_kernel"]
    )


def test_a_frozen_model_trains_only_its_head(weights_files):
    vgg = build_model(
        "vgg16-transfer", weights=str(weights_files["dir"] / "vgg16_notop.weights.h5")
    )
    trainable = sum(int(np.prod(w.shape)) for w in vgg.trainable_weights)
    assert trainable == VGG_HEAD
    assert vgg.count_params() == 14_714_688 + VGG_HEAD  # VGG16's conv base + the head
    scratch = build_model("vgg16-transfer", weights="none")  # nothing to keep: all train
    assert sum(int(np.prod(w.shape)) for w in scratch.trainable_weights) == scratch.count_params()


@pytest.mark.parametrize("k", [1, 4, 10])
def test_fine_tuning_unfreezes_exactly_the_last_k_layers(k, weights_files):
    model = build_model(
        "mobilenetv2-transfer", weights=str(weights_files["dir"] / "mnv2_notop.weights.h5")
    )
    base = unfreeze_last(model, k)
    flags = [layer.trainable for layer in base.layers]
    assert flags == [False] * (len(flags) - k) + [True] * k
    with pytest.raises(LitelabError, match="--fine-tune must be between 1 and"):
        unfreeze_last(model, len(base.layers) + 1)


def test_run_with_fine_tuning_shows_both_stages(weights_files, toy_npz, tmp_path):
    path = weights_files["dir"] / "mnv2_notop.weights.h5"
    code = main(
        ["run", "--model", "mobilenetv2-transfer", "--alpha", "0.35", "--weights", str(path)]
        + ["--data", str(toy_npz), "--epochs", "1", "--fine-tune", "5", "--fine-tune-epochs"]
        + ["2", "--fine-tune-lr", "1e-4", "--quiet", "--runs-dir", str(tmp_path)]
        + ["--train-limit", "48", "--no-evaluate"]
    )
    assert code == 0
    (run_dir,) = tmp_path.iterdir()
    history = (run_dir / "history.csv").read_text().splitlines()
    stage_col = history[0].split(",").index("stage")
    assert [float(row.split(",")[stage_col]) for row in history[1:]] == [1.0, 2.0, 2.0]
    model = keras.models.load_model(run_dir / "model.keras")
    base = backbone_of(model)
    assert [layer.trainable for layer in base.layers][-6:] == [False] + [True] * 5
    # The frozen part kept the file's weights through both stages.
    np.testing.assert_array_equal(base.layers[1].get_weights()[0], weights_files["mnv2_kernel"])


def test_offline_and_uncached_the_error_names_the_files(offline, toy_npz, tmp_path, capsys):
    code = main(
        ["run", "--model", "vgg16-transfer", "--data", str(toy_npz)]
        + ["--runs-dir", str(tmp_path / "runs")]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in err
    assert "--weights PATH" in err and "--weights none" in err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
    photo = tmp_path / "photo.png"
    Image.new("RGB", (50, 40), (200, 30, 30)).save(photo)
    assert main(["imagenet", str(photo)]) == 2
    err = capsys.readouterr().err
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in err
    assert "imagenet_class_index.json" in err and "--class-index PATH" in err


def test_a_cached_weights_file_is_used_without_a_download(weights_files, monkeypatch, tmp_path):
    import shutil

    home = tmp_path / "keras-home"
    (home / "models").mkdir(parents=True)
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    shutil.copy(weights_files["dir"] / "mnv2_notop_legacy.h5", home / "models" / name)
    monkeypatch.setenv("KERAS_HOME", str(home))
    model = build_model("mobilenetv2-transfer", alpha=0.35)  # weights="imagenet"
    np.testing.assert_array_equal(
        backbone_of(model).layers[1].get_weights()[0], weights_files["mnv2_kernel"]
    )


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda d: d / "vgg16_notop.weights.h5", "does not match mobilenetv2"),
        (lambda d: d / "missing.h5", "weights file not found"),
        (lambda d: d / "class_index.json", "is not an HDF5"),
        ("truncated", "truncated"),
    ],
)
def test_wrong_weights_files_are_one_line_errors(make, message, weights_files, tmp_path):
    d = weights_files["dir"]
    if make == "truncated":
        path = tmp_path / "cut.h5"
        path.write_bytes((d / "mnv2_notop_legacy.h5").read_bytes()[:50_000])
    else:
        path = make(d)
    with pytest.raises(LitelabError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_model("mobilenetv2-transfer", weights=str(path))


def test_imagenet_top3_for_a_photo(weights_files, tmp_path, capsys):
    d = weights_files["dir"]
    photo = tmp_path / "lion.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (300, 420, 3), dtype=np.uint8)).save(photo)
    code = main(
        ["imagenet", str(photo), "--backbone", "mobilenetv2", "--alpha", "0.35", "--json"]
        + ["--weights", str(d / "mnv2_top.weights.h5"), "--class-index"]
        + [str(d / "class_index.json")]
    )
    assert code == 0
    (result,) = json.loads(capsys.readouterr().out)
    top = result["top"]
    assert len(top) == 3 and all(t["class"].startswith("thing_") for t in top)
    probs = [t["probability"] for t in top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6
    assert all(t["wordnet_id"] == f"n{int(t['class'][6:]):08d}" for t in top)


def test_imagenet_bad_input(weights_files, tmp_path, capsys):
    d = weights_files["dir"]
    bad_index = tmp_path / "index.json"
    bad_index.write_text(json.dumps({"0": ["n0", "zero"]}))
    photo = tmp_path / "p.png"
    Image.new("RGB", (10, 10)).save(photo)
    common = ["--backbone", "mobilenetv2", "--alpha", "0.35"]
    common += ["--weights", str(d / "mnv2_top.weights.h5")]
    assert main(["imagenet", str(photo), *common, "--class-index", str(bad_index)]) == 2
    assert "is not ImageNet's class index" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    assert main(["imagenet", str(notes), *common]) == 2
    assert "not an image" in capsys.readouterr().err
    assert main(["imagenet", str(photo), "--backbone", "resnet50"]) == 2
    assert "unknown backbone 'resnet50'" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["caffe", "tf"])
def test_the_preprocessing_layer_matches_keras(mode):
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    ours = np.asarray(ImageNetPreprocess(mode)(x))
    if mode == "caffe":
        ref = keras.applications.vgg16.preprocess_input(x * 255.0)
    else:
        ref = keras.applications.mobilenet_v2.preprocess_input(x * 255.0)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_models_lists_transfer_models_with_trainable_counts(capsys):
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["vgg16-transfer"]["trainable_params"] == VGG_HEAD
    assert rows["vgg16-transfer"]["params"] == 14_748_170
    mn = rows["mobilenetv2-transfer"]
    assert mn["trainable_params"] == 1280 * 64 + 64 + 64 * 10 + 10
    assert mn["options"] == ["alpha", "weights"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--model", "mobilenetv2-transfer", "--alpha", "0.4"], "--alpha must be one of"),
        (["--model", "baseline", "--fine-tune", "2"], "--fine-tune applies to transfer models"),
        (["--model", "baseline", "--weights", "none"], "has no option 'weights'"),
        (["--model", "vgg16-transfer", "--fine-tune", "-1"], "--fine-tune must be >= 0"),
    ],
)
def test_transfer_flags_bad_input(args, message, toy_npz, tmp_path, capsys):
    code = main(["run", *args, "--data", str(toy_npz), "--runs-dir", str(tmp_path)])
    assert code == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_run_interrupted_in_the_fine_tuning_stage_resumes_there(
    weights_files, toy_colours, tmp_path
):
    import dataclasses

    from litelab.config import resolve_config
    from litelab.jobs import run
    from litelab.train import StopAfterEpochs

    path = weights_files["dir"] / "mnv2_notop.weights.h5"
    training = {"model": "mobilenetv2-transfer", "model_options": {"weights": str(path)}}
    training |= {"epochs": 1, "fine_tune": 2, "fine_tune_epochs": 2, "batch_size": 32}
    config = resolve_config(None, {"source": "toy"}, training, str(tmp_path))
    small = dataclasses.replace(
        toy_colours, x_train=toy_colours.x_train[:48], y_train=toy_colours.y_train[:48]
    )
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C after the first fine-tuning epoch
        run(
            config,
            data=small,
            evaluate=False,
            progress=False,
            verbose=0,
            callbacks=[StopAfterEpochs(2)],
        )
    (run_dir,) = tmp_path.iterdir()
    result = run(resume=run_dir, data=small, evaluate=False, progress=False, verbose=0)
    history = (run_dir / "history.csv").read_text().splitlines()
    stage_col = history[0].split(",").index("stage")
    assert [float(r.split(",")[stage_col]) for r in history[1:]] == [1.0, 2.0, 2.0]
    layers = backbone_of(result.model).layers
    assert [layer.trainable for layer in layers[-3:]] == [False, True, True]
    assert not any(layer.trainable for layer in layers[:-2] if layer.weights)
