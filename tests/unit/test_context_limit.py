"""A model's context limit cuts requests as vLLM does; checked against hand-worked cases and
a brute-force token-by-token replay."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.core.context_limit import fit_context, fit_trace_context
from toolkit.core.request import Request, Segment
from toolkit.core.trace import Trace


def _req(prompt: int, segs: list[tuple[int, int]], final: int, rid: str = "r") -> Request:
    return Request(rid, 0.0, final, prompt_len=prompt, block_hashes=(1,) * (-(-prompt // 16)),
                   block_size=16, segments=[Segment(o, 1.0, r) for o, r in segs] or None)


def _shape(req: Request | None) -> tuple | None:
    if req is None:
        return None
    return (req.prompt_len, [(s.output_len, s.return_len) for s in req.segments or ()], req.output_len)


# prompt 100, a call after 30 tokens returning 40, a call after 20 returning 500, answer 50
CASES = [
    (90, None, True),                     # the prompt alone does not fit
    (101, (100, [], 1), True),            # room for one token
    (120, (100, [], 20), True),           # stops while generating before the first call
    (140, (100, [], 30), True),           # the first tool's 40 tokens would not fit
    (175, (100, [(30, 40)], 5), True),    # stops while generating before the second call
    (200, (100, [(30, 40)], 20), True),   # the second tool's 500 tokens would not fit
    (740, (100, [(30, 40), (20, 500)], 50), False),  # exactly fits
]


@pytest.mark.parametrize(("limit", "shape", "cut"), CASES)
def test_hand_worked_cases(limit: int, shape: tuple | None, cut: bool) -> None:
    fitted, was_cut = fit_context(_req(100, [(30, 40), (20, 500)], 50), limit)
    assert (_shape(fitted), was_cut) == (shape, cut)


def _replay(prompt: int, segs: list[tuple[int, int]], final: int, limit: int) -> tuple | None:
    """Brute force: run the request token by token, stopping as vLLM would."""
    if prompt >= limit:
        return None
    ctx, kept, out = prompt, [], 0
    phases = [*segs, (final, None)]
    for i, (gen, ret) in enumerate(phases):
        out = 0
        for _ in range(max(1, gen)):
            if ctx == limit:
                return (prompt, kept, out)
            ctx += 1
            out += 1
        if ret is None:
            return (prompt, kept, out)
        if ctx + ret > limit:
            return (prompt, kept, out)
        ctx += ret
        kept.append(segs[i])
    raise AssertionError("unreachable")


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 300), st.lists(st.tuples(st.integers(0, 60), st.integers(0, 120)), max_size=5),
       st.integers(0, 80), st.integers(2, 700))
def test_matches_a_token_by_token_replay(prompt: int, segs: list, final: int, limit: int) -> None:
    req = _req(prompt, segs, final)
    fitted, cut = fit_context(req, limit)
    want = _replay(prompt, segs, final, limit)
    replay_cut = want is None or want[1] != segs or want[2] < max(1, final)
    assert cut == replay_cut
    assert _shape(fitted) == (want if cut else _shape(req))


def test_trace_keeps_unfittable_prompts_for_the_engine_to_reject() -> None:
    trace = Trace([_req(10, [], 5, "a"), _req(50, [], 5, "b"), _req(30, [(5, 10)], 5, "c")])
    fitted, cut = fit_trace_context(trace, 40)
    assert cut == {"b", "c"}
    assert [_shape(r) for r in fitted] == [(10, [], 5), (50, [], 5), (30, [], 5)]
    assert fit_trace_context(trace, None) == (trace, set())
