"""The model zoo: small CNNs by name. ``litelab models`` lists them with parameter counts."""

from litelab.models import course, fast, resnet, transfer  # noqa: F401  (registers the builders)
from litelab.models.registry import ModelSpec, build_model, get_model_spec, model_names

__all__ = ["ModelSpec", "build_model", "get_model_spec", "model_names"]
