"""Arrival processes: seeded, right rate, right burstiness."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.core import ConfigError
from toolkit.workloads import gamma_arrivals, make_arrivals, poisson_arrivals


def test_poisson_is_seeded_and_has_the_rate() -> None:
    a, b = poisson_arrivals(20000, 8.0, seed=1), poisson_arrivals(20000, 8.0, seed=1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, poisson_arrivals(20000, 8.0, seed=2))
    assert a[0] == 0.0 and np.all(np.diff(a) >= 0)
    gaps = np.diff(a)
    assert gaps.mean() == pytest.approx(1 / 8.0, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("cv", [0.5, 2.0, 4.0])
def test_gamma_has_the_cv(cv: float) -> None:
    gaps = np.diff(gamma_arrivals(50000, 5.0, cv, seed=0))
    assert gaps.mean() == pytest.approx(0.2, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.1)


def test_gamma_cv_one_is_poisson() -> None:
    assert np.array_equal(gamma_arrivals(100, 3.0, 1.0, seed=7), poisson_arrivals(100, 3.0, seed=7))


def test_make_arrivals_dispatch_and_errors() -> None:
    assert np.array_equal(make_arrivals(10, 2.0, 0, "gamma", 2.0), gamma_arrivals(10, 2.0, 2.0, 0))
    with pytest.raises(ConfigError, match="arrival"):
        make_arrivals(10, 2.0, 0, "uniform")
    with pytest.raises(ConfigError, match="rps"):
        poisson_arrivals(10, 0.0)
    with pytest.raises(ConfigError, match="cv"):
        gamma_arrivals(10, 1.0, -1.0)
    assert len(poisson_arrivals(0, 1.0)) == 0
