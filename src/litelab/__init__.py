"""litelab: small image classifiers from data to a microcontroller.

The notebook API (:mod:`litelab.api`) loads on first use, so ``import litelab`` is instant:

    import litelab
    data = litelab.load_data("cifar10")
    run = litelab.train("baseline", data, epochs=10)
    run.plot("curves"); run.export(); run.deploy("esp-eye")
    litelab.predict("zoo:mcu", "photo.jpg")
    litelab.tune(data, tuner="hyperband", max_epochs=10)
    litelab.basics.linear()

``litelab.train`` and ``litelab.tune`` are also the modules of those names; calling them
runs :func:`litelab.api.train` and :func:`litelab.api.tune`.
"""

from litelab.errors import LitelabError
from litelab.lazy import lazy_attributes

__version__ = "0.1.0"

_LAZY = {
    "load_data": "litelab.api",
    "predict": "litelab.api",
    "open_run": "litelab.api",
    "inspect": "litelab.api",
    "imagenet": "litelab.api",
    "experiment": "litelab.api",
    "Data": "litelab.api",
    "Run": "litelab.notebook",
    "Table": "litelab.notebook",
    "Verdict": "litelab.notebook",
}
_MODULES = ("train", "tune", "basics", "api")

__all__ = ["LitelabError", "__version__", *_LAZY, *_MODULES]

__getattr__ = lazy_attributes(__name__, _LAZY, modules=_MODULES)
