"""One record per request: what every backend emits and every metric reads."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass(slots=True)
class RequestRecord:
    """The outcome of one request. Times are absolute seconds on the run's clock.

    `first_token_s` and `finish_s` are NaN for a request that failed or never finished;
    `context_truncated` marks a request cut short by the model's context limit.
    Speculative decoding: draft tokens verified, how many were accepted, verify steps.
    """

    request_id: str
    arrival_s: float
    first_token_s: float = math.nan
    finish_s: float = math.nan
    num_prompt_tokens: int = 0
    num_cached_tokens: int = 0
    num_output_tokens: int = 0
    engine_id: int = -1
    num_preemptions: int = 0
    num_pauses: int = 0
    session: str | None = None
    tier: str | None = None
    failed: bool = False
    error: str = ""
    context_truncated: bool = False
    num_draft_tokens: int = 0
    num_accepted_tokens: int = 0
    num_verify_steps: int = 0


RECORD_COLUMNS = [f.name for f in fields(RequestRecord)]

PAUSE_COLUMNS = ["request_id", "pause_index", "action", "first_action", "duration_s",
                 "decided_after_s", "context_tokens", "engine_id"]
"""One row per tool-call pause (InferCept), whichever backend paused: `action` is where the
context ended up (preserve, discard, swap), `first_action` the choice at the pause."""


def records_to_frame(records: Iterable[RequestRecord]) -> pd.DataFrame:
    """Turn records into a DataFrame with the canonical columns, in order."""
    import pandas as pd

    records = list(records)
    return pd.DataFrame({c: [getattr(r, c) for r in records] for c in RECORD_COLUMNS},
                        columns=RECORD_COLUMNS)
