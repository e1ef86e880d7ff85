"""Search spaces for ``litelab tune``: the course's default, and TOML files that change it.

The default is the space of the course's keras-tuner lab (seed 004) widened to everything
its manual study varies: 1-3 conv blocks of 32-128 filters, a 32-128 unit hidden layer,
the learning rate on a log scale, adam/sgd/rmsprop, relu/tanh, dropout, batch size,
augmentation on/off, and, as seed 001's custom tuner does, the number of epochs.

A ``--space`` file is TOML with one table per hyperparameter it changes; the others keep
their defaults. In each table give ``value`` (fixed), ``values`` (a choice), or ``min`` and
``max`` (with optional ``step``, and ``sampling = "log"`` for positive floats)::

    [learning_rate]
    min = 1e-4
    max = 1e-2
    sampling = "log"

    [optimizer]
    values = ["adam", "rmsprop"]

    [conv_blocks]
    value = 2
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litelab.config import ACTIVATIONS, OPTIMIZERS
from litelab.errors import LitelabError
from litelab.files import read_toml

AUGMENT_ON = ("flip", "crop")  # what "augment = true" means: the standard CIFAR-10 pair


@dataclass(frozen=True)
class Param:
    """One hyperparameter: fixed (``value``), a choice (``values``) or a range."""

    name: str
    kind: str  # "int", "float", "choice" or "bool"
    value: Any = None
    values: tuple[Any, ...] = ()
    min: float | None = None
    max: float | None = None
    step: float | None = None
    sampling: str = "linear"

    def declare(self, hp: Any, name: str | None = None) -> Any:
        """Register this parameter on a keras-tuner ``HyperParameters`` and return its value."""
        name = name or self.name
        if self.value is not None:
            return hp.Fixed(name, self.value)
        if self.values:
            if self.kind == "bool" and set(self.values) == {True, False}:
                return hp.Boolean(name)
            return hp.Choice(name, list(self.values))
        if self.kind == "int":
            return hp.Int(
                name, int(self.min), int(self.max), step=int(self.step or 1), sampling=self.sampling
            )
        return hp.Float(name, self.min, self.max, step=self.step, sampling=self.sampling)

    def to_dict(self) -> dict[str, Any]:
        if self.value is not None:
            return {"value": self.value}
        if self.values:
            return {"values": list(self.values)}
        out: dict[str, Any] = {"min": self.min, "max": self.max}
        if self.step:
            out["step"] = self.step
        if self.sampling != "linear":
            out["sampling"] = self.sampling
        return out


# name -> (kind, default spec, check of one value: returns an error text or None)
def _positive(v: Any) -> str | None:
    return None if v > 0 else "must be greater than 0"


def _at_least_one(v: Any) -> str | None:
    return None if v >= 1 else "must be at least 1"


def _blocks(v: Any) -> str | None:
    return None if 1 <= v <= 3 else "must be 1, 2 or 3 (a 32px image has room for 3 blocks)"


def _rate(v: Any) -> str | None:
    return None if 0 <= v < 1 else "must be in [0, 1)"


def _member(options: tuple[str, ...]):
    def check(v: Any) -> str | None:
        return None if v in options else f"must be one of {', '.join(options)}"

    return check


def _boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


_KINDS = {
    "conv_blocks": ("int", _blocks),
    "filters": ("int", _at_least_one),
    "units": ("int", _at_least_one),
    "learning_rate": ("float", _positive),
    "optimizer": ("choice", _member(("adam", "sgd", "rmsprop", "nesterov"))),
    "activation": ("choice", _member(ACTIVATIONS)),
    "dropout": ("float", _rate),
    "batch_size": ("int", _at_least_one),
    "augment": ("bool", _boolean),
    "epochs": ("int", _at_least_one),
}
assert set(OPTIMIZERS) >= {"adam", "sgd", "rmsprop"}


def course_space(max_epochs: int) -> dict[str, Param]:
    """The default space; ``epochs`` spans the top two thirds of ``max_epochs``."""
    return {
        "conv_blocks": Param("conv_blocks", "int", min=1, max=3),
        "filters": Param("filters", "int", min=32, max=128, step=32),
        "units": Param("units", "int", min=32, max=128, step=32),
        "learning_rate": Param("learning_rate", "float", min=1e-4, max=1e-2, sampling="log"),
        "optimizer": Param("optimizer", "choice", values=("adam", "sgd", "rmsprop")),
        "activation": Param("activation", "choice", values=("relu", "tanh")),
        "dropout": Param("dropout", "float", min=0.0, max=0.5, step=0.1),
        "batch_size": Param("batch_size", "int", values=(32, 64, 128)),
        "augment": Param("augment", "bool", values=(False, True)),
        "epochs": Param(
            "epochs", "int", min=max(1, math.ceil(max_epochs / 3)), max=max(1, max_epochs)
        ),
    }


@dataclass(frozen=True)
class SearchSpace:
    """The hyperparameters a search varies, by name (see the module docstring)."""

    params: dict[str, Param] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Param:
        return self.params[name]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: p.to_dict() for name, p in self.params.items()}


def _param_from_table(name: str, table: Any, where: str) -> Param:
    if name not in _KINDS:
        raise LitelabError(f"{where}: unknown hyperparameter [{name}]; known: {', '.join(_KINDS)}")
    if not isinstance(table, dict):
        raise LitelabError(f"{where}: [{name}] must be a table (value, values, or min/max)")
    kind, check = _KINDS[name]
    allowed = {"value", "values", "min", "max", "step", "sampling"}
    for key in table:
        if key not in allowed:
            raise LitelabError(
                f"{where}: unknown key {key!r} in [{name}]; "
                "use value, values, or min/max/step/sampling"
            )

    def checked(v: Any, key: str) -> Any:
        if kind in ("int", "float") and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise LitelabError(f"{where}: [{name}] {key} must be a number, got {v!r}")
        if kind == "int" and isinstance(v, float):
            if not v.is_integer():
                raise LitelabError(f"{where}: [{name}] {key} must be an integer, got {v!r}")
            v = int(v)
        problem = check(v)
        if problem:
            raise LitelabError(f"{where}: [{name}] {key} = {v!r} {problem}")
        return v

    if "value" in table:
        if len(table) > 1:
            raise LitelabError(f"{where}: [{name}] has value; drop the other keys")
        return Param(name, kind, value=checked(table["value"], "value"))
    if "values" in table:
        values = table["values"]
        if not isinstance(values, list) or not values:
            raise LitelabError(f"{where}: [{name}] values must be a non-empty list")
        if len(table) > 1:
            raise LitelabError(f"{where}: [{name}] has values; drop the other keys")
        return Param(name, kind, values=tuple(checked(v, "values") for v in values))
    if kind in ("choice", "bool"):
        raise LitelabError(f"{where}: [{name}] takes value or values, not a range")
    if "min" not in table or "max" not in table:
        raise LitelabError(f"{where}: [{name}] needs value, values, or both min and max")
    lo, hi = checked(table["min"], "min"), checked(table["max"], "max")
    if lo > hi:
        raise LitelabError(f"{where}: [{name}] min {lo} is greater than max {hi}")
    step = table.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, int | float) or step <= 0:
            raise LitelabError(f"{where}: [{name}] step must be greater than 0, got {step!r}")
        if kind == "int" and not float(step).is_integer():
            raise LitelabError(f"{where}: [{name}] step must be an integer, got {step!r}")
        step = int(step) if kind == "int" else step
        if step > hi - lo and hi > lo:
            raise LitelabError(f"{where}: [{name}] step {step} is wider than min..max")
    sampling = table.get("sampling", "linear")
    if sampling not in ("linear", "log", "reverse_log"):
        raise LitelabError(f"{where}: [{name}] sampling must be linear, log or reverse_log")
    if sampling != "linear" and lo <= 0:
        raise LitelabError(f"{where}: [{name}] log sampling needs min > 0, got {lo}")
    if lo == hi:
        return Param(name, kind, value=lo)
    return Param(name, kind, min=lo, max=hi, step=step, sampling=sampling)


def space_from_dict(
    values: dict[str, Any], max_epochs: int, where: str = "search space"
) -> SearchSpace:
    """The course space with ``values``' tables replacing its entries (validated)."""
    params = course_space(max_epochs)
    for name, table in values.items():
        params[name] = _param_from_table(name, table, where)
    return SearchSpace(params)


def load_space(path: str | Path | None, max_epochs: int) -> SearchSpace:
    """The course space, changed by the TOML file at ``path`` when one is given."""
    if path is None:
        return SearchSpace(course_space(max_epochs))
    values = read_toml(path, "search space file")
    return space_from_dict(values, max_epochs, where=str(path))
