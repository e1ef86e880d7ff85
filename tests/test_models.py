"""The zoo: parameter counts as the course prints them, builders honour their arguments."""

import numpy as np
import pytest

from litelab.errors import LitelabError
from litelab.models import build_model, get_model_spec, model_names

# From the course's printed model summaries (seeds 000 and 003) and MLPerf Tiny's ResNet-8.
COURSE_PARAMS = {"baseline": 167_562, "tiny": 226_390, "wide": 1_628_214, "resnet8": 78_666}


@pytest.mark.parametrize("name,params", sorted(COURSE_PARAMS.items()))
def test_param_counts_match_the_course(name, params):
    assert build_model(name).count_params() == params


def test_seed002_models_share_weights_count_and_differ_by_dropout():
    plain, drop = build_model("vgg-blocks"), build_model("dropout-cnn")
    assert plain.count_params() == drop.count_params() == 669_354
    kinds = [type(layer).__name__ for layer in drop.layers]
    assert kinds.count("Dropout") == 4
    assert "Dropout" not in [type(layer).__name__ for layer in plain.layers]
    assert [layer.filters for layer in plain.layers if hasattr(layer, "filters")] == [
        32,
        32,
        64,
        64,
        64,
        64,
    ]


def test_lenet5_is_tanh_with_avg_pooling():
    spec = get_model_spec("lenet5")
    assert spec.recipe["activation"] == "tanh"
    model = build_model("lenet5", activation="tanh")
    assert model.count_params() == 62_030
    assert sum(type(layer).__name__ == "AveragePooling2D" for layer in model.layers) == 2
    assert model.layers[0].activation.__name__ == "tanh"


def test_resnet8_matches_the_mlperf_reference_structure():
    model = build_model("resnet8")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 9 and kinds.count("Add") == 3
    assert kinds.count("BatchNormalization") == 7


@pytest.mark.parametrize("name", model_names())
def test_every_model_takes_other_shapes_and_class_counts(name):
    from litelab.models.registry import model_options

    offline = {"weights": "none"} if "weights" in model_options(name) else {}  # no downloads
    model = build_model(name, input_shape=(32, 32, 3), num_classes=4, **offline)
    out = model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_activation_is_configurable():
    model = build_model("baseline", activation="tanh")
    assert model.layers[0].activation.__name__ == "tanh"


def test_unknown_model_lists_the_zoo():
    with pytest.raises(LitelabError, match="unknown model 'resnet9000'.*baseline"):
        get_model_spec("resnet9000")


FAST_MODELS = {  # params, MACs per image (litelab.export.inspect.inspect_keras)
    "fastnet": (382_714, 12_241_408),
    "fastres": (414_074, 24_036_608),
    "mcunet": (71_034, 7_520_896),
}


@pytest.mark.parametrize("name", sorted(FAST_MODELS))
def test_fast_models_params_and_macs(name):
    from litelab.export.inspect import inspect_keras

    model = build_model(name)
    params, macs = FAST_MODELS[name]
    assert model.count_params() == params
    assert inspect_keras(model)["macs"] == macs
    assert get_model_spec(name).recipe["optimizer"] == "nesterov"


def test_mcunet_fits_the_resnet8_budget_on_paper():
    from litelab.export.inspect import inspect_keras

    mcu, ref = build_model("mcunet"), build_model("resnet8")
    assert inspect_keras(mcu)["macs"] < inspect_keras(ref)["macs"]
    assert mcu.count_params() < ref.count_params()


def test_cnn_family_defaults_are_the_baseline_and_options_change_it():
    base, fam = build_model("baseline"), build_model("cnn")
    assert fam.count_params() == base.count_params()
    assert [type(x).__name__ for x in fam.layers] == [type(x).__name__ for x in base.layers]
    deeper = build_model("cnn", filters=[32, 64], convs_per_block=2)
    convs = [x for x in deeper.layers if type(x).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [32, 32, 64, 64]
    tanh = build_model("cnn", first_activation="tanh")
    acts = [c.activation.__name__ for c in tanh.layers if type(c).__name__ == "Conv2D"]
    assert acts == ["tanh", "relu"]
    drop = build_model("cnn", dropout=0.5, dense_units=128)
    assert [x.rate for x in drop.layers if type(x).__name__ == "Dropout"] == [0.5]
    assert drop.layers[-3].units == 128  # Dense128, Dropout, Dense10


@pytest.mark.parametrize(
    "options,message",
    [
        ({"filters": [32, 64, 64, 64]}, "shrink a 32px image"),
        ({"filters": []}, "positive integers"),
        ({"dropout": 1.0}, "dropout must be in [0, 1)"),
        ({"width": 2}, "has no option 'width'"),
    ],
)
def test_cnn_bad_options_are_one_line_errors(options, message):
    with pytest.raises(LitelabError, match=message.replace("[", r"\[").replace(")", r"\)")):
        build_model("cnn", **options)


def test_fixed_models_take_no_options():
    with pytest.raises(LitelabError, match="it takes none"):
        build_model("baseline", filters=[8])
