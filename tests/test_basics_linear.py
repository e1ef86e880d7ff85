"""Linear regression basics: the course's data, and un-scaling done right (both halves)."""

import numpy as np
import pytest

from litelab.basics.linear import (
    Scaling,
    fit_normal_equation,
    many_houses,
    small_houses,
    unscale,
)
from litelab.errors import LitelabError


def test_unscaling_recovers_a_known_line_exactly():
    rng = np.random.default_rng(0)
    x = rng.random((50, 1)) * 3000
    y = 7.5 + 0.25 * x  # no noise: the scaled fit is exact
    s = Scaling.fit(x, y)
    xs, ys = (x - s.mx) / s.sx, (y - s.my) / s.sy
    w, b = np.polyfit(xs[:, 0], ys[:, 0], 1)
    slope, intercept = unscale(w, b, s)
    assert slope == pytest.approx(0.25, rel=1e-9)
    assert intercept == pytest.approx(7.5, rel=1e-9)
    # The course's shortcut (bias only) is wrong whenever x has a mean:
    assert b * s.sy + s.my != pytest.approx(7.5, abs=1.0)


def test_the_courses_data_sets():
    small = small_houses()
    assert small.x[:, 0].tolist() == [1000, 1500, 2000, 2500, 3000]
    np.testing.assert_allclose(
        small.y[:, 0] - [200, 250, 300, 350, 400], np.random.RandomState(42).normal(0, 15, 5)
    )
    big = many_houses()
    assert big.x.shape == (10_000, 1) and 0 <= big.x.min() and big.x.max() < 1000
    slope, intercept = fit_normal_equation(big)
    assert slope == pytest.approx(0.1, abs=0.003) and intercept == pytest.approx(200, abs=1.5)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: many_houses(rows=1), "--rows must be at least 2"),
        (lambda: many_houses(noise=-1), "--noise must be 0 or more"),
        (lambda: small_houses(noise=float("nan")), "--noise must be 0 or more"),
    ],
)
def test_nonsense_options(call, message):
    with pytest.raises(LitelabError, match=message):
        call()
