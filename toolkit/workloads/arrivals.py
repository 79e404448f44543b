"""Seeded arrival processes: Poisson, and Gamma with a coefficient of variation.

All functions return arrival times in seconds, sorted, the first one at 0 s, drawn from a
`numpy.random.Generator` (pass a seed or a Generator): the same seed gives the same times.
Gamma inter-arrival times with `cv=1` are exponential, i.e. a Poisson process, and then
return exactly the numbers `poisson_arrivals` returns for the same seed.
"""

from __future__ import annotations

import numpy as np

from toolkit.core.errors import ConfigError

ARRIVAL_KINDS = ("poisson", "gamma")


def as_rng(seed: int | np.random.Generator) -> np.random.Generator:
    """A Generator from a seed (or the Generator itself)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _times_from_gaps(gaps: np.ndarray) -> np.ndarray:
    if gaps.size == 0:
        return gaps
    times = np.concatenate(([0.0], np.cumsum(gaps[:-1])))
    return times


def poisson_arrivals(
    num_requests: int, rps: float, seed: int | np.random.Generator = 0
) -> np.ndarray:
    """`num_requests` arrival times (s) of a Poisson process of rate `rps` requests/s."""
    _check(num_requests, rps)
    rng = as_rng(seed)
    return _times_from_gaps(rng.exponential(1.0 / rps, size=num_requests))


def gamma_arrivals(
    num_requests: int, rps: float, cv: float = 1.0, seed: int | np.random.Generator = 0
) -> np.ndarray:
    """Arrival times (s) with Gamma inter-arrivals of mean 1/rps and coefficient of variation `cv`.

    `cv > 1` is burstier than Poisson, `cv < 1` more regular; `cv == 1` is Poisson.
    """
    _check(num_requests, rps)
    if cv <= 0:
        raise ConfigError("cv", f"coefficient of variation must be positive, got {cv}")
    if cv == 1.0:
        return poisson_arrivals(num_requests, rps, seed)
    shape = 1.0 / cv**2
    rng = as_rng(seed)
    return _times_from_gaps(rng.gamma(shape, 1.0 / (rps * shape), size=num_requests))


def make_arrivals(
    num_requests: int,
    rps: float,
    seed: int | np.random.Generator = 0,
    arrival: str = "poisson",
    cv: float = 1.0,
) -> np.ndarray:
    """Arrival times (s) of the process named by `arrival` ('poisson' or 'gamma')."""
    if arrival == "poisson":
        return poisson_arrivals(num_requests, rps, seed)
    if arrival == "gamma":
        return gamma_arrivals(num_requests, rps, cv, seed)
    raise ConfigError("arrival", f"unknown arrival process {arrival!r}; use one of {ARRIVAL_KINDS}")


def _check(num_requests: int, rps: float) -> None:
    if num_requests < 0:
        raise ConfigError("num_requests", f"must be non-negative, got {num_requests}")
    if not rps > 0:
        raise ConfigError("rps", f"request rate must be positive, got {rps}")
