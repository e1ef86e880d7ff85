"""Config precedence (defaults < model recipe < TOML < flags) and validation."""

import pytest

from litelab.config import (
    DatasetConfig,
    RunConfig,
    TrainingConfig,
    config_from_dict,
    resolve_config,
)
from litelab.errors import LitelabError


def test_model_recipe_overrides_defaults():
    cfg = resolve_config(training_overrides={"model": "dropout-cnn"})
    assert (cfg.training.optimizer, cfg.training.batch_size, cfg.training.epochs) == (
        "rmsprop",
        256,
        31,
    )


def test_toml_overrides_recipe_and_flags_override_toml():
    file_values = {
        "training": {"model": "dropout-cnn", "epochs": 5, "batch_size": 64},
        "data": {"val_split": 0.1},
    }
    cfg = resolve_config(file_values, {"val_split": None}, {"epochs": 2, "batch_size": None})
    assert cfg.training.epochs == 2  # flag beats file
    assert cfg.training.batch_size == 64  # file beats recipe; unset flag ignored
    assert cfg.training.optimizer == "rmsprop"  # recipe beats default
    assert cfg.data.val_split == 0.1


def test_config_round_trips_through_a_dict():
    cfg = resolve_config(None, {"train_limit": 100}, {"model": "resnet8", "augment": "flip"})
    again = config_from_dict(cfg.to_dict())
    assert again == cfg
    assert "train_limit" in cfg.to_dict()["data"] and "test_limit" not in cfg.to_dict()["data"]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"epochs": 0}, "--epochs must be at least 1, got 0"),
        ({"learning_rate": 0.0}, "--lr must be greater than 0"),
        ({"learning_rate": -1e-3}, "--lr must be greater than 0"),
        ({"batch_size": 0}, "--batch-size must be at least 1"),
        ({"optimizer": "adamax"}, "unknown optimizer 'adamax'"),
        ({"activation": "softplusplus"}, "unknown activation"),
        ({"augment": ("mixup",)}, "unknown augmentation 'mixup'"),
    ],
)
def test_nonsense_training_values_are_one_line_errors(kwargs, message):
    with pytest.raises(LitelabError, match=message):
        TrainingConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"val_split": 1.0}, "--val-split must be in"),
        ({"val_split": -0.1}, "--val-split must be in"),
        ({"train_limit": 0}, "--train-limit must be at least 1"),
        ({"image_size": 2}, "image size"),
    ],
)
def test_nonsense_data_values_are_one_line_errors(kwargs, message):
    with pytest.raises(LitelabError, match=message):
        DatasetConfig(**kwargs)


def test_unknown_config_keys_are_named():
    with pytest.raises(LitelabError, match="unknown key 'epoch' in \\[training\\]"):
        resolve_config({"training": {"epoch": 3}})
    with pytest.raises(LitelabError, match="unknown section or key 'trainig'"):
        resolve_config({"trainig": {}})


def test_defaults_are_the_seed000_recipe():
    cfg = RunConfig()
    assert cfg.data.source == "cifar10" and cfg.training.model == "baseline"
    assert cfg.data.val_split == 0.2 and cfg.training.epochs == 10


def test_bad_toml_is_a_one_line_error(tmp_path):
    from litelab.config import read_toml

    bad = tmp_path / "c.toml"
    bad.write_text("[training\nepochs = 3\n")
    with pytest.raises(LitelabError, match="is not valid TOML"):
        read_toml(bad)
    with pytest.raises(LitelabError, match="config file not found"):
        read_toml(tmp_path / "missing.toml")


def test_a_saved_config_file_reruns_the_same_config(tmp_path):
    import tomli_w

    from litelab.config import read_toml

    cfg = resolve_config(
        None,
        {"source": "x.npz", "val_split": 0.1},
        {"model": "lenet5", "epochs": 3, "augment": "flip,shift"},
    )
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(cfg.to_dict()))
    assert resolve_config(read_toml(path)) == cfg
    assert resolve_config(read_toml(path), training_overrides={"epochs": 5}).training.epochs == 5


def test_model_options_merge_file_and_flags_and_round_trip():
    file_values = {"training": {"model": "cnn", "model_options": {"filters": [16, 32]}}}
    cfg = resolve_config(file_values, None, {"model_options": {"dense_units": 128}})
    assert cfg.training.model_options == {"filters": [16, 32], "dense_units": 128}
    assert config_from_dict(cfg.to_dict()) == cfg


def test_unknown_model_option_and_strategy_are_named():
    with pytest.raises(LitelabError, match="model 'resnet8' has no option 'filters'"):
        resolve_config(None, None, {"model": "resnet8", "model_options": {"filters": [8]}})
    with pytest.raises(LitelabError, match="unknown strategy 'ring'"):
        TrainingConfig(strategy="ring")
