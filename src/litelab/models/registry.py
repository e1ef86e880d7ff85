"""The model registry: every zoo entry by name, with where it comes from and its recipe."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from litelab.errors import LitelabError, unknown

Builder = Callable[..., Any]  # (input_shape, num_classes, activation) -> keras.Model


@dataclass(frozen=True)
class ModelSpec:
    """One zoo entry.

    ``recipe`` holds the training settings the source used (optimizer, learning rate, batch
    size, epochs); they sit between litelab's defaults and the user's config and flags.
    ``prepare(model, x_train)``, where given, sets weights that are computed from the
    training images (airnet's patch whitening) on a freshly built model, before the fit.
    """

    name: str
    build: Builder
    source: str
    description: str
    recipe: dict[str, Any] = field(default_factory=dict)
    prepare: Callable[[Any, Any], None] | None = None


_REGISTRY: dict[str, ModelSpec] = {}
# The modules whose builders register themselves; imported on first use (they import Keras).
FAMILIES = ("course", "fast", "resnet", "transfer")
_loaded = False


def _load_families() -> dict[str, ModelSpec]:
    global _loaded
    if not _loaded:
        import importlib

        _loaded = True
        for family in FAMILIES:
            importlib.import_module(f"litelab.models.{family}")
        # The zoo's order is the families' order, whichever module happened to load first.
        rank = {f"litelab.models.{f}": i for i, f in enumerate(FAMILIES)}
        ordered = sorted(_REGISTRY.values(), key=lambda s: rank.get(s.build.__module__, 99))
        _REGISTRY.clear()
        _REGISTRY.update({spec.name: spec for spec in ordered})
    return _REGISTRY


def register(
    name: str,
    *,
    source: str,
    description: str,
    prepare: Callable[[Any, Any], None] | None = None,
    **recipe: Any,
) -> Callable[[Builder], Builder]:
    """Decorator that adds a builder to the zoo under ``name``."""

    def wrap(fn: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(name, fn, source, description, dict(recipe), prepare)
        return fn

    return wrap


def model_names() -> list[str]:
    """Names of every zoo entry, in registration order."""
    return list(_load_families())


def get_model_spec(name: str) -> ModelSpec:
    """The spec for ``name``; an unknown name is a one-line error listing the zoo."""
    try:
        return _load_families()[name]
    except KeyError:
        raise LitelabError(
            unknown("model", name, _REGISTRY, hint="(see `litelab models`)")
        ) from None


def build_model(
    name: str,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    activation: str = "relu",
    **options: Any,
) -> Any:
    """Build an uncompiled zoo model. Inputs are float images scaled to 0..1.

    ``options`` are the family's own keyword arguments (``[training.model_options]`` in a
    config); a name the builder does not take is a one-line error that lists those it does.
    """
    spec = get_model_spec(name)
    if options:
        known = model_options(name)
        for key in options:
            if key not in known:
                takes = f"it takes {', '.join(known)}" if known else "it takes none"
                raise LitelabError(f"model {name!r} has no option {key!r}; {takes}")
    model = spec.build(
        input_shape=tuple(input_shape), num_classes=num_classes, activation=activation, **options
    )
    return model


def model_options(name: str) -> list[str]:
    """The keyword-only options a family's builder takes (empty for fixed models)."""
    params = inspect.signature(get_model_spec(name).build).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
