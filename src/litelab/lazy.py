"""Names of a package that load their (heavy) module on first use (PEP 562), and modules
that can be called."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import Any


def lazy_attributes(
    package: str, table: dict[str, str], modules: tuple[str, ...] = ()
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``table[name]`` when ``name``
    is first asked for, so importing the package itself loads nothing heavy. ``modules``
    are the package's own submodules handed out the same way (``package.name``)."""

    def __getattr__(name: str) -> Any:
        if name in modules:
            return importlib.import_module(f"{package}.{name}")  # sets the attribute itself
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(table[name]), name)
        setattr(importlib.import_module(package), name, value)
        return value

    return __getattr__


class CallableModule(types.ModuleType):
    """A module that is also a function: ``litelab.train(...)`` is the notebook call while
    ``litelab.train`` stays the module of that name (Python sets a package's attribute to
    its submodule on import, so a function of the same name could not stay there)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        module, name = self.__dict__["__call_target__"]
        return getattr(importlib.import_module(module), name)(*args, **kwargs)


def callable_module(module_name: str, target: str) -> None:
    """Make module ``module_name`` callable as ``target`` ("package.module:function")."""
    module = sys.modules[module_name]
    module.__class__ = CallableModule
    module.__call_target__ = tuple(target.split(":"))
