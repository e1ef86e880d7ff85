"""Tuning: keras-tuner searches (``litelab tune``); the manual study is :mod:`litelab.study`.

The names load keras-tuner on first use, so ``import litelab.tune`` stays instant.
"""

from __future__ import annotations

from litelab.lazy import callable_module, lazy_attributes

_LAZY = {
    "TuneResult": "litelab.tune.search",
    "TuneSettings": "litelab.tune.search",
    "tune": "litelab.tune.search",
}
__all__ = list(_LAZY)

__getattr__ = lazy_attributes(__name__, _LAZY)

# litelab.tune(...) in a notebook: the package is also litelab.api.tune (see litelab.lazy).
callable_module(__name__, "litelab.api:tune")
