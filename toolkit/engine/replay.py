"""Replay a trace on one in-process engine in real time: no HTTP, no proxy.

Requests are added when the wall clock reaches their arrival time and the engine steps
while any is unfinished, so the records measure the engine alone (what the simulator models),
with the simulator's columns.
"""

from __future__ import annotations

import time

from toolkit.core.record import RequestRecord
from toolkit.core.trace import Trace
from toolkit.engine.engine import LLMEngine
from toolkit.engine.sampling import SamplingParams


def replay_inprocess(engine: LLMEngine, trace: Trace, warmup: int = 2) -> list[RequestRecord]:
    """Run `trace` on `engine` (greedy, `ignore_eos`, `max_tokens` = output_len); records
    carry the trace's clock (arrival_s as in the trace)."""
    _warm_up(engine, trace, warmup)
    reqs = list(trace)
    t0 = engine.clock() - (reqs[0].arrival_s if reqs else 0.0)
    records: list[RequestRecord] = []
    i = 0
    while i < len(reqs) or engine.has_unfinished():
        now = engine.clock() - t0
        while i < len(reqs) and reqs[i].arrival_s <= now:
            r = reqs[i]
            params = SamplingParams(temperature=0.0, max_tokens=max(1, r.output_len),
                                    ignore_eos=True)
            engine.add_request(list(r.prompt_token_ids), params, r.id, t0 + r.arrival_s)
            i += 1
        if engine.has_unfinished():
            engine.step()
        elif i < len(reqs):
            time.sleep(max(0.0, min(reqs[i].arrival_s - now, 0.05)))
        records.extend(engine.take_records())
    records.extend(engine.take_records())
    return on_trace_clock(records, t0)


def on_trace_clock(records: list[RequestRecord], t0: float) -> list[RequestRecord]:
    """Shift records from the engine's clock to the trace's (time 0 at `t0`)."""
    for rec in records:
        rec.arrival_s -= t0
        rec.first_token_s -= t0
        rec.finish_s -= t0
    return records


def _warm_up(engine: LLMEngine, trace: Trace, count: int) -> None:
    """A few throw-away requests so the first timed iterations are not the slow first ones."""
    params = SamplingParams(temperature=0.0, max_tokens=4, ignore_eos=True)
    for j, r in enumerate(list(trace)[:count]):
        engine.add_request([t for t in r.prompt_token_ids][::-1], params, f"warmup-{j}")
    while engine.has_unfinished():
        engine.step()
    engine.take_records()
