"""The zoo's catalogue: every model's parameter counts, source, layers, options and recipe.

``litelab models`` lists the zoo from ``catalog.json``, shipped beside this module, so the
listing needs no Keras (importing it alone takes seconds on a 2-core laptop). The file is
made by building every model (``python -m litelab.models.catalog``); a test rebuilds it and
fails if a model changed without the catalogue.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

CATALOG_FILE = "catalog.json"


def build_rows() -> list[dict[str, Any]]:
    """Build every zoo model and describe it (transfer models counted with frozen backbones,
    without downloading their weights)."""
    import numpy as np

    from litelab.models import build_model, get_model_spec, model_names
    from litelab.models.registry import model_options
    from litelab.models.transfer import backbone_of

    rows = []
    for name in model_names():
        spec = get_model_spec(name)
        opts = {"weights": "none"} if "weights" in model_options(name) else {}
        model = build_model(name, **opts)
        if backbone_of(model) is not None:
            backbone_of(model).trainable = False
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        rows.append(
            {
                "name": name,
                "params": int(model.count_params()),
                "trainable_params": trainable,
                "source": spec.source,
                "layers": spec.description,
                "options": model_options(name),
                "recipe": {
                    k: list(v) if isinstance(v, tuple) else v for k, v in spec.recipe.items()
                },
            }
        )
    return rows


def rows() -> list[dict[str, Any]]:
    """The shipped catalogue (no Keras import)."""
    text = resources.files("litelab.models").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def main() -> None:
    """Rewrite catalog.json from the models themselves."""
    from pathlib import Path

    from litelab.files import write_json

    path = Path(__file__).with_name(CATALOG_FILE)
    write_json(path, build_rows())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
