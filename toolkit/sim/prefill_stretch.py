"""Prefill stretches: runs of full-chunk chunked-prefill iterations timed as one event.

With chunked prefill, an iteration whose running prefill takes the whole chunk budget leaves
no room to admit anything, so the iterations after it are known in advance: the same
sequence takes another full chunk and every running decode takes one more token. The engine
times such a run at once — each iteration from the end of the one before, with the same
float additions single steps make — and schedules one event at its end. It stops before
anything could differ: the prefill ending, a decode finishing, or a decode slot that would
need an eviction (which could also mean a preemption).
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate

from toolkit.cost.base import CostModel
from toolkit.cost.steps import prefill_chunk_steps_s
from toolkit.sched.base import LocalScheduler


def can_stretch(scheduler: object) -> bool:
    """Whether `scheduler` builds batches with `LocalScheduler`'s own chunked-prefill rule."""
    return (
        bool(getattr(scheduler, "chunked_prefill", False))
        and type(scheduler).schedule is LocalScheduler.schedule
        and type(scheduler)._mixed is LocalScheduler._mixed
    )


class PrefillStretch:
    """The end times of a stretch's iterations (`times[j]` ends iteration j + 1) and the
    number of decodes that ran in each."""

    __slots__ = ("times", "num_decode")

    def __init__(self, times: list[float], num_decode: int) -> None:
        self.times = times
        self.num_decode = num_decode

    @classmethod
    def timed(cls, cost: CostModel, end: float, chunk: int, num_prefilled: int,
              num_decode: int, decode_ctx_sum: int, steps: int) -> PrefillStretch:
        """Time `steps - 1` more iterations after the first, which ends at `end`; the
        first took `chunk` tokens after `num_prefilled`, with `decode_ctx_sum` context."""
        dts = prefill_chunk_steps_s(cost, chunk, num_prefilled + chunk, num_decode,
                                    decode_ctx_sum + num_decode, steps - 1)
        if dts and min(dts) >= 0.0:  # end + dt >= end: the clamp below never binds
            times = list(accumulate(dts, initial=end))
            if times[-1] == times[-1]:  # no NaN on the way
                return cls(times, num_decode)
        times = [end]
        for dt in dts:
            t = end + dt
            end = t if t > end else end  # the event loop never schedules into the past
            times.append(end)
        return cls(times, num_decode)

    @property
    def num_extra(self) -> int:
        """Iterations after the first."""
        return len(self.times) - 1

    def unstarted_slots(self, now_s: float) -> int:
        """Decode slots of the iterations that single steps would not have started by
        `now_s` (an iteration starts when the one before ends)."""
        started = bisect_right(self.times, now_s, 0, len(self.times) - 1)
        return (len(self.times) - 1 - started) * self.num_decode
