"""The model zoo: small CNNs by name. ``litelab models`` lists them with parameter counts.

The families (:mod:`~litelab.models.course`, ``fast``, ``resnet``, ``transfer``) import Keras;
they load on the first lookup by name, so importing this package stays instant.
"""

from litelab.models.registry import ModelSpec, build_model, get_model_spec, model_names

__all__ = ["ModelSpec", "build_model", "get_model_spec", "model_names"]
