"""DAS's makespan model of speculative rollouts (§4.2 of arXiv 2511.13841): the step-time
fit, the budget that brings a request to a pass count, and the optimal per-request budgets.

Model (the paper's): a forward pass costs `c_base + c_tok * n_tokens`. A request of target
length l, drafter efficiency alpha and capacity k that is allowed p proposed tokens in all
gets A = k l (1 - exp(-alpha p / l)) tokens accepted and needs l - A forward passes. The
step's makespan is set by the longest request, so the paper's objective is
`c_base * N_fwd + c_tok * sum(p_i)` with `N_fwd = max_i (l_i - A_i)`.

That objective charges every proposed token as extra work, but an accepted draft token is
one the request would otherwise have decoded in a pass of its own: over its life a request
puts `(l - A) + p` tokens through the model instead of `l`, so what speculation adds is its
rejected tokens, `p - A`. `charge="rejected"` minimises `c_base * N_fwd + c_tok *
sum(p_i - A_i)`; `charge="proposed"` is the paper's form. The two differ most when drafts
are mostly accepted (the paper's form then under-spends).

The paper's Eq. 7 does not invert that constraint (see `../shared/papers/das.md`): the
correct budget for a pass count N is `p = -(l/alpha) ln(1 - (1 - N/l)/k)`, feasible for
l (1 - k) <= N < l, and 0 when l <= N. Both forms are here (`budget_for_passes` and
`printed_eq7`); the solver uses the correct one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares


@dataclass(frozen=True)
class StepTimeFit:
    """t = c_base + c_tok * n_tokens (seconds), least squares, and its mean relative error."""

    c_base: float
    c_tok: float
    mean_rel_error: float

    def __call__(self, n_tokens: float) -> float:
        return self.c_base + self.c_tok * n_tokens


def fit_step_time(n_tokens: Sequence[float], seconds: Sequence[float]) -> StepTimeFit:
    """Ordinary least squares of step time on tokens per step."""
    x, y = np.asarray(n_tokens, float), np.asarray(seconds, float)
    if len(x) < 2 or len(x) != len(y):
        raise ValueError(f"fit_step_time: need >= 2 paired points, got {len(x)} and {len(y)}")
    a = np.c_[np.ones_like(x), x]
    (c_base, c_tok), *_ = np.linalg.lstsq(a, y, rcond=None)
    err = float(np.mean(np.abs(a @ [c_base, c_tok] - y) / y))
    return StepTimeFit(float(c_base), float(c_tok), err)


def accepted(length: float, p: float, alpha: float, k: float) -> float:
    """Tokens accepted over a request's life with `p` proposed tokens in all."""
    return k * length * (1.0 - math.exp(-alpha * p / length))


def passes(length: float, p: float, alpha: float, k: float) -> float:
    """Forward passes the request needs with `p` proposed tokens in all."""
    return length - accepted(length, p, alpha, k)


def budget_for_passes(length: float, n_fwd: float, alpha: float, k: float) -> float:
    """The proposed tokens that bring the request down to `n_fwd` passes (0 if it already
    fits; inf if no budget can: `n_fwd < l (1 - k)`)."""
    if n_fwd >= length:
        return 0.0
    inner = 1.0 - (1.0 - n_fwd / length) / k
    return math.inf if inner <= 0 else -(length / alpha) * math.log(inner)


def printed_eq7(length: float, n_fwd: float, alpha: float, k: float) -> float:
    """Eq. 7 as printed in the paper (kept for comparison; it does not reach `n_fwd`)."""
    return 0.0 if n_fwd >= length else -(length / alpha) * math.log(1.0 - k * (1.0 - n_fwd / length))


@dataclass(frozen=True)
class Plan:
    """The solved step: target pass count, total budget per request, predicted cost."""

    n_fwd: float
    budgets: tuple[float, ...]
    cost_s: float


CHARGES = ("proposed", "rejected")


def check_charge(charge: str) -> None:
    """ValueError naming `charge` unless it is one of `CHARGES`."""
    if charge not in CHARGES:
        raise ValueError(f"charge must be one of {CHARGES}, got {charge!r}")


def plan_cost(n_fwd: float, lengths: Sequence[float], alphas: Sequence[float],
              ks: Sequence[float], c_base: float, c_tok: float, charge: str = "proposed") -> float:
    """`c_base * n_fwd + c_tok * sum(p_i(n_fwd))` (`charge="proposed"`, the paper's) or
    `c_base * n_fwd + c_tok * sum(p_i(n_fwd) - A_i)` (`charge="rejected"`)."""
    check_charge(charge)
    total = 0.0
    for length, a, k in zip(lengths, alphas, ks):
        p = budget_for_passes(length, n_fwd, a, k)
        total += p - (accepted(length, p, a, k) if charge == "rejected" and p > 0 else 0.0)
    return c_base * n_fwd + c_tok * total


def solve_budget(lengths: Sequence[float], alphas: Sequence[float], ks: Sequence[float],
                 c_base: float, c_tok: float, tol: float = 1e-9,
                 charge: str = "proposed") -> Plan:
    """The pass count minimising the makespan objective, and each request's budget.

    The objective's derivative, c_base - c_tok * sum_{l_i > N} 1 / (alpha_i (k_i - 1 + N/l_i))
    (the corrected form of the paper's Eq. 9), rises with N from -inf at the feasibility
    bound max_i l_i (1 - k_i) to c_base at max l, so its root is the optimum; bisection finds
    it. With `charge="rejected"` each term loses 1 (an accepted token is no extra work),
    which keeps the slope rising as long as alpha_i k_i <= 1 (no drafter accepts more tokens
    than it proposes)."""
    check_charge(charge)
    if not lengths:
        return Plan(0.0, (), 0.0)
    if not all(0 < k <= 1 for k in ks) or not all(a > 0 for a in alphas):
        raise ValueError("solve_budget: need 0 < k <= 1 and alpha > 0 for every request")
    if charge == "rejected" and any(a * k > 1 + 1e-9 for a, k in zip(alphas, ks)):
        raise ValueError("solve_budget: charge='rejected' needs alpha * k <= 1 (a drafter "
                         "cannot accept more tokens than it proposes)")
    top = max(lengths)
    lo = max(length * (1 - k) for length, k in zip(lengths, ks))
    hi = top
    saved = 1.0 if charge == "rejected" else 0.0

    def slope(n: float) -> float:
        s = sum(1.0 / (a * (k - 1 + n / length)) - saved
                for length, a, k in zip(lengths, alphas, ks) if length > n)
        return c_base - c_tok * s

    if lo >= hi or slope(hi * (1 - 1e-12)) <= 0:
        n = hi
    else:
        a, b = lo, hi
        while b - a > tol * max(1.0, b):
            mid = 0.5 * (a + b)
            a, b = (mid, b) if slope(mid) < 0 else (a, mid)
        n = b
    budgets = tuple(budget_for_passes(length, n, a, k) for length, a, k in zip(lengths, alphas, ks))
    return Plan(n, budgets, plan_cost(n, lengths, alphas, ks, c_base, c_tok, charge))


@dataclass(frozen=True)
class DrafterFit:
    """The drafter's `alpha` (efficiency) and `k` (capacity) in A = k l (1 - exp(-alpha p/l)),
    fitted to finished requests, and the fit's mean absolute error in A/l."""

    alpha: float
    k: float
    mean_abs_error: float
    requests: int


def fit_drafter(proposed: Sequence[float], accepted_tokens: Sequence[float],
                lengths: Sequence[float]) -> DrafterFit:
    """Least squares of A/l on p/l over requests that drafted (p > 0), with 0 < k <= 1 and
    alpha k <= 1. The paper fits neither number in print; this is how we learn them from the
    rollouts' own counts."""
    p, a, n = (np.asarray(x, float) for x in (proposed, accepted_tokens, lengths))
    if not (len(p) == len(a) == len(n)):
        raise ValueError(f"fit_drafter: need paired counts, got {len(p)}, {len(a)}, {len(n)}")
    use = (p > 0) & (n > 0)
    if use.sum() < 2:
        raise ValueError(f"fit_drafter: need >= 2 requests that drafted, got {int(use.sum())}")
    x, y = p[use] / n[use], a[use] / n[use]

    def resid(v: np.ndarray) -> np.ndarray:  # v = (k, alpha k): both in (0, 1]
        return v[0] * (1 - np.exp(-v[1] * x / v[0])) - y

    k, ak = least_squares(resid, [0.8, 0.8], bounds=([1e-3, 1e-3], [1.0, 1.0])).x
    return DrafterFit(float(ak / k), float(k), float(np.mean(np.abs(resid(np.array([k, ak]))))),
                      int(use.sum()))
