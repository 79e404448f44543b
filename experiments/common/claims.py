"""Claims a notebook states, computed from the run's results so that tests can assert them.

A figure's `*_checks(results, quick)` returns a `claims_table`: one row per claim with the
measured value, the bound it must meet and whether it holds. Two kinds of rows:

- `ours`: what the notebook states about our results. The notebook ends with
  `assert_claims(table)`, so a quick-mode papermill test (and a full run) fails when a
  stated claim stops holding; `quick` picks the bound where full-mode ones cannot apply, and
  a claim with no quick-mode bound is left unchecked (`holds` is None) in quick mode.
- `paper`: what the paper claims, checked on our results and reported, never asserted: where
  our results differ from the paper's, the notebook says so from this column.
- `goal`: a target an issue set (a speed goal, say), reported like a paper claim: a
  timing on a shared machine is a measurement to report, not a fact to assert.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass(frozen=True)
class Claim:
    """One claim: `value op bound` must hold (`bound` None: not checkable in this mode)."""

    text: str
    value: float
    op: str
    bound: float | None
    kind: str = "ours"

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"claim {self.text!r}: op must be one of {sorted(_OPS)}, got {self.op!r}")
        if self.kind not in ("ours", "paper", "goal"):
            raise ValueError(f"claim {self.text!r}: kind must be 'ours', 'paper' or 'goal', "
                             f"got {self.kind!r}")

    @property
    def holds(self) -> bool | None:
        if self.bound is None:
            return None
        if self.value is None or math.isnan(self.value):
            return False
        return bool(_OPS[self.op](self.value, self.bound))


def bound(full: float | None, quick_bound: float | None, quick: bool) -> float | None:
    """The bound for this mode: `quick_bound` in quick mode (None: not checked there)."""
    return quick_bound if quick else full


def claims_table(claims: Iterable[Claim]) -> pd.DataFrame:
    """One row per claim: kind, claim, value, op, bound, holds."""
    rows = [{"kind": c.kind, "claim": c.text, "value": c.value, "op": c.op, "bound": c.bound,
             "holds": c.holds} for c in claims]
    return pd.DataFrame(rows, columns=["kind", "claim", "value", "op", "bound", "holds"])


class ClaimFailed(AssertionError):
    """A claim the notebook states does not hold on the results."""


def assert_claims(table: pd.DataFrame) -> pd.DataFrame:
    """Raise `ClaimFailed` naming every `ours` claim that does not hold; return the table."""
    ours = table[table["kind"] == "ours"]
    failed = ours[ours["holds"].apply(lambda h: h is not None and not h)]
    if len(failed):
        lines = [f"- {r.claim}: {r.value:.4g} not {r.op} {r.bound:.4g}" for r in failed.itertuples()]
        raise ClaimFailed("claims that do not hold:\n" + "\n".join(lines))
    return table


def paper_verdicts(table: pd.DataFrame) -> str:
    """Markdown lines: each paper claim (and goal), our value and whether it holds here."""
    paper = table[table["kind"].isin(["paper", "goal"])]
    return "\n".join(f"- {r.claim}: ours {r.value:.3g} — "
                     f"{'holds' if r.holds else 'does not hold here'}"
                     for r in paper.itertuples())
