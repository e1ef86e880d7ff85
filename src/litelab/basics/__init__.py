"""The course's warm-ups (seed 001): linear and logistic regression, scikit-learn vs Keras.

``litelab.basics.linear()`` and ``litelab.basics.logistic()`` run the warm-ups from a
notebook (:func:`litelab.api.linear`, :func:`litelab.api.logistic`); the modules of those
names hold the pieces.
"""

from __future__ import annotations

from litelab.lazy import lazy_attributes

__getattr__ = lazy_attributes(__name__, {}, modules=("linear", "logistic"))
