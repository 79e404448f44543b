"""Pause/resume in the real engine (InferCept): outputs equal to unpaused runs under every
pause policy, bit-identical swaps, swap fallback, timeouts, resume errors, block accounting
after every step."""

from __future__ import annotations

import random

import pytest
import torch

from tests.engine.test_generate import random_prompts
from toolkit.engine import EngineConfig, LLMEngine, SamplingParams
from toolkit.engine.pause import PAUSE_LOG_COLUMNS, ResumeError
from toolkit.sched.pause import (
    DiscardPausePolicy,
    ImprovedDiscardPausePolicy,
    MinWastePausePolicy,
    PauseAction,
    PausePolicy,
    PreservePausePolicy,
    SwapPausePolicy,
)

KW = dict(num_kv_blocks=160, block_size=4, chunk_size=16, seed=0)


def greedy(n: int) -> SamplingParams:
    return SamplingParams(temperature=0.0, max_tokens=n, ignore_eos=True)


def tool_tokens(rid: str, k: int) -> list[int]:
    rng = random.Random(f"{rid}/{k}")
    return [rng.randrange(3, 768) for _ in range(rng.randint(0, 9))]


def drive(engine: LLMEngine, delay_steps: int = 2) -> dict[str, list[tuple[list, list, str]]]:
    """Step until every request has finished, resuming each pause after `delay_steps` steps
    with `tool_tokens`; check block accounting after every step. Returns, per request, its
    segments as (context, generated tokens, finish reason)."""
    segments: dict[str, list[tuple[list, list, str]]] = {}
    due: list[tuple[int, str]] = []
    step = 0
    while engine.has_unfinished() or engine.num_paused:
        for out in engine.step():
            if out.paused or out.finished:
                comp = out.outputs[0]
                segments.setdefault(out.request_id, []).append(
                    (list(out.prompt_token_ids), list(comp.token_ids), comp.finish_reason))
            if out.paused:
                due.append((step + delay_steps, out.request_id))
        engine.check_integrity()
        step += 1
        for item in [d for d in due if d[0] <= step]:
            due.remove(item)
            rid = item[1]
            engine.resume(rid, tool_tokens(rid, len(segments[rid])))
            engine.check_integrity()
        assert step < 2000, "the engine does not make progress"
    return segments


@pytest.fixture(scope="module")
def unpaused(tiny_model_dir):
    """`unpaused(context, n)`: an engine without pauses continuing `context` by `n` tokens
    (the reference: a request whose prompt is the whole context)."""
    engine = LLMEngine.from_kwargs(model=str(tiny_model_dir), **KW)

    def run(context: list[int], n: int) -> list[int]:
        rid = engine.add_request(context, greedy(n))
        while engine.has_unfinished():
            engine.step()
        return engine.output(rid).outputs[0].token_ids

    return run


def add_paused_requests(engine: LLMEngine) -> dict[str, tuple[list[int], list[int], int]]:
    prompts = random_prompts(4, seed=21, lo=5, hi=40)
    plans = [[5, 3], [1, 7, 2], [9], []]
    reqs = {}
    for i, (prompt, plan) in enumerate(zip(prompts, plans)):
        rid = engine.add_request(prompt, greedy(6 + i), request_id=f"r{i}", pause_after=plan)
        reqs[rid] = (prompt, plan, 6 + i)
    return reqs


class BudgetedSwap(PausePolicy):
    """Swap at every pause, `budget` tokens a step, overlapped (InferCept's copy rule)."""

    budgeted_swap = True

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.name = f"budgeted_swap_{budget}"

    def on_pause(self, paused, view):
        return PauseAction.SWAP

    def swap_budget_tokens(self, view):
        return self.budget


POLICIES = [PreservePausePolicy(), DiscardPausePolicy(), ImprovedDiscardPausePolicy(),
            SwapPausePolicy(), MinWastePausePolicy(saturation_tokens=8), BudgetedSwap(4),
            BudgetedSwap(6)]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_outputs_equal_unpaused_engine(tiny_model_dir, unpaused, policy):
    engine = LLMEngine.from_kwargs(model=str(tiny_model_dir), pause_policy=policy, **KW)
    reqs = add_paused_requests(engine)
    segments = drive(engine)
    for rid, (prompt, plan, max_tokens) in reqs.items():
        segs = segments[rid]
        assert [r for *_, r in segs] == ["pause"] * len(plan) + ["length"]
        assert [len(t) for _, t, _ in segs] == [*plan, max_tokens]
        context = list(prompt)
        for k, (ctx, toks, _) in enumerate(segs):
            assert ctx == context, f"{rid} segment {k}: context"
            assert toks == unpaused(ctx, len(toks)), f"{rid} segment {k}"
            context = ctx + toks + tool_tokens(rid, k + 1)
    records = {r.request_id: r for r in engine.take_records()}
    for rid, (_, plan, max_tokens) in reqs.items():
        rec = records[rid]
        assert not rec.failed and rec.num_pauses == len(plan)
        assert rec.num_output_tokens == sum(plan) + max_tokens
    log = engine.take_pause_log()
    assert len(log) == sum(len(p) for _, p, _ in reqs.values())
    assert all(set(e) == set(PAUSE_LOG_COLUMNS) and e["outcome"] == "resumed" for e in log)
    if policy.name in ("preserve", "swap"):  # one action for every pause
        assert {e["action"] for e in log} == {policy.name}
    assert engine.kv.held_tokens == 0 and engine.pauses.swap.used_blocks == 0


class SwapLater(PausePolicy):
    """Preserve at the pause; swap out when `review` is next asked after `go` is set."""

    go = False

    def on_pause(self, paused, view):
        return PauseAction.PRESERVE

    def review(self, preserved, view):
        return {p.request_id: PauseAction.SWAP for p in preserved} if self.go else {}


def kv_of(engine: LLMEngine, table: list[int], num_tokens: int) -> torch.Tensor:
    """The KV of a sequence's first `num_tokens` tokens, [layers, 2, tokens, heads, dim]."""
    cache = engine.runner.kv_cache
    blocks = cache[:, :, torch.tensor(table, dtype=torch.long)]
    return blocks.flatten(2, 3)[:, :, :num_tokens].clone()


def test_swapped_blocks_come_back_bit_identical(tiny_model_dir):
    policy = SwapLater()
    engine = LLMEngine.from_kwargs(model=str(tiny_model_dir), pause_policy=policy, **KW)
    prompt = random_prompts(1, seed=22, lo=30, hi=30)[0]
    engine.add_request(prompt, greedy(4), request_id="a", pause_after=[6])
    engine.add_request(random_prompts(1, seed=23)[0], greedy(30), request_id="b")
    while not engine.num_paused:
        engine.step()
        engine.check_integrity()
    seq = engine.pauses.paused["a"].seq
    num_kv = seq.num_tokens - 1
    before = kv_of(engine, list(seq.block_table), num_kv)
    old_blocks = set(seq.block_table)
    policy.go = True
    engine.step()
    engine.check_integrity()
    assert seq.block_table == [] and seq.swapped is not None
    assert engine.pauses.swap.used_tokens >= num_kv
    freed = sorted(old_blocks & set(engine.kv.free_blocks))
    assert freed  # its private blocks are free again: scribble on them
    engine.runner.kv_cache[:, :, freed] = 123.0
    after: list[torch.Tensor] = []
    swap_in = engine.pauses.swap_in

    def spy(s):
        secs = swap_in(s)
        after.append(kv_of(engine, list(s.block_table), num_kv))
        return secs

    engine.pauses.swap_in = spy
    engine.resume("a", [5, 6, 7])
    while engine.has_unfinished():
        engine.step()
        engine.check_integrity()
    assert len(after) == 1 and torch.equal(after[0], before)
    log = engine.take_pause_log()
    assert log[0]["first_action"] == "preserve" and log[0]["action"] == "swap"
    assert engine.pauses.swap.used_blocks == 0


class AlwaysSwap(PausePolicy):
    """Swap at every pause, without looking at the host space (the engine falls back)."""

    name = "always_swap"

    def on_pause(self, paused, view):
        return PauseAction.SWAP


@pytest.mark.parametrize("policy", [SwapPausePolicy(), AlwaysSwap()], ids=["swap", "always_swap"])
def test_swap_falls_back_to_discard_when_host_space_is_full(tiny_model_dir, unpaused, policy):
    # room for the first paused request's context only
    engine = LLMEngine.from_kwargs(model=str(tiny_model_dir), pause_policy=policy,
                                   swap_space_tokens=48, **KW)
    prompts = random_prompts(2, seed=24, lo=30, hi=36)
    for i, p in enumerate(prompts):
        engine.add_request(p, greedy(3), request_id=f"s{i}", pause_after=[4])
    segments = drive(engine, delay_steps=6)
    log = {e["request_id"]: e for e in engine.take_pause_log()}
    assert [log[r]["action"] for r in ("s0", "s1")] == ["swap", "discard"]
    if isinstance(policy, AlwaysSwap):  # the engine's fallback, not the policy's choice
        assert [log[r]["swap_fallback"] for r in ("s0", "s1")] == [False, True]
    for segs in segments.values():
        ctx, toks, _ = segs[1]
        assert toks == unpaused(ctx, len(toks))


def test_tool_timeout_fails_the_request_and_others_finish(tiny_model_dir):
    now = [0.0]
    for policy in ({"_target_": "toolkit.sched.pause.PreservePausePolicy"},
                   {"_target_": "toolkit.sched.pause.SwapPausePolicy"}):
        config = EngineConfig(model=str(tiny_model_dir), pause_policy=policy, pause_timeout_s=5.0,
                              **KW)
        engine = LLMEngine(config, clock=lambda: now[0])
        engine.add_request(random_prompts(1, seed=25)[0], greedy(4), request_id="stuck",
                           pause_after=[3])
        engine.add_request(random_prompts(1, seed=26)[0], greedy(40), request_id="busy")
        timed_out = []
        while engine.has_unfinished() or engine.num_paused:
            now[0] += 0.5
            timed_out += [o.request_id for o in engine.step() if o.finished]
            engine.check_integrity()
        assert "stuck" in timed_out
        records = {r.request_id: r for r in engine.take_records()}
        assert records["stuck"].failed and records["stuck"].error == "tool timeout"
        assert records["stuck"].num_pauses == 1
        assert not records["busy"].failed and records["busy"].num_output_tokens == 40
        assert engine.kv.held_tokens == 0 and engine.pauses.swap.used_blocks == 0
        assert [e["outcome"] for e in engine.take_pause_log()] == ["timeout"]
        with pytest.raises(ResumeError) as err:
            engine.resume("stuck", [4])
        assert err.value.reason == "unknown"


def test_expire_while_idle_and_abort_paused(tiny_model_dir):
    now = [0.0]
    config = EngineConfig(model=str(tiny_model_dir), pause_timeout_s=1.0, **KW)
    engine = LLMEngine(config, clock=lambda: now[0])
    for rid in ("x", "y"):
        engine.add_request(random_prompts(1, seed=27)[0], greedy(4), request_id=rid,
                           pause_after=[2])
    while engine.has_unfinished():
        engine.step()
    assert engine.num_paused == 2 and engine.kv.held_tokens > 0
    assert engine.abort_request("y") and engine.num_paused == 1
    assert engine.expire_paused() == []
    now[0] += 2.0
    outs = engine.expire_paused()
    assert [(o.request_id, o.finished) for o in outs] == [("x", True)]
    engine.check_integrity()
    assert engine.kv.held_tokens == 0 and engine.num_paused == 0
    assert {r.error for r in engine.take_records()} == {"aborted", "tool timeout"}


def test_resume_errors_and_arrival_order(tiny_model_dir):
    engine = LLMEngine.from_kwargs(model=str(tiny_model_dir), pause_policy=DiscardPausePolicy(), **KW)
    with pytest.raises(ValueError):
        engine.add_request([5, 6, 7], greedy(2), pause_after=[0])
    engine.add_request(random_prompts(1, seed=28)[0], greedy(3), request_id="p", pause_after=[2],
                       arrival_s=-10.0)
    with pytest.raises(ResumeError) as err:
        engine.resume("nobody", [1])
    assert err.value.reason == "unknown"
    engine.step()
    with pytest.raises(ResumeError) as err:
        engine.resume("p", [1])
    assert err.value.reason == "not_paused"
    while not engine.num_paused:
        engine.step()
    with pytest.raises(ResumeError) as err:
        engine.resume("p", [9] * engine.max_model_len)
    assert err.value.reason == "invalid" and engine.num_paused == 1
    engine.resume("p", [9, 10])
    seq = engine._seqs["p"]
    assert seq.arrival_s > -10.0 and seq.request.arrival_s == -10.0  # vLLM: requeued at the tail
    while engine.has_unfinished():
        engine.step()
    assert engine.output("p").outputs[0].finish_reason == "length"


def test_resumed_requests_that_kept_their_kv_cannot_deadlock(tiny_model_dir, unpaused):
    # two preserved contexts fill the pool; neither fits its tool's tokens in what is left
    engine = LLMEngine.from_kwargs(model=str(tiny_model_dir), **{**KW, "num_kv_blocks": 24})
    for i, prompt in enumerate(random_prompts(2, seed=29, lo=40, hi=40)):
        engine.add_request(prompt, greedy(3), request_id=f"d{i}", pause_after=[2])
    while engine.num_paused < 2:
        engine.step()
        engine.check_integrity()
    contexts = {}
    for rid in ("d0", "d1"):
        out = engine.output(rid)
        contexts[rid] = out.prompt_token_ids + out.outputs[0].token_ids + [7] * 12
        engine.resume(rid, [7] * 12)
    while engine.has_unfinished():
        engine.step()
        engine.check_integrity()
    for rid, ctx in contexts.items():
        out = engine.output(rid)
        assert out.prompt_token_ids == ctx and out.outputs[0].finish_reason == "length"
        assert out.outputs[0].token_ids == unpaused(ctx, 3)
    assert engine.kv.held_tokens == 0
    assert engine._seqs["d0"].num_cached_tokens > engine._seqs["d1"].num_cached_tokens  # d1 dropped


def _pause_one(engine: LLMEngine, prompt_len: int = 30) -> None:
    prompt = random_prompts(1, seed=25, lo=prompt_len, hi=prompt_len)[0]
    engine.add_request(prompt, greedy(4), request_id="a", pause_after=[6])
    engine.add_request(random_prompts(1, seed=26)[0], greedy(60), request_id="b")
    while not engine.num_paused:
        engine.step()
        engine.check_integrity()


def test_budgeted_swap_moves_a_block_a_step_and_restores_the_kv(tiny_model_dir):
    engine = LLMEngine.from_kwargs(model=str(tiny_model_dir), pause_policy=BudgetedSwap(4), **KW)
    _pause_one(engine)
    seq = engine.pauses.paused["a"].seq
    num_kv = seq.num_tokens - 1  # 35 tokens: 9 blocks of 4
    blocks = engine.kv.blocks_for(num_kv)
    before = kv_of(engine, list(seq.block_table), num_kv)
    steps = 0
    while seq.block_table:  # one block per step; freed the step after the last one
        engine.step()
        engine.check_integrity()
        steps += 1
    assert steps == blocks + 1 and seq.swapped is not None
    engine.runner.kv_cache[:, :, list(engine.kv.free_blocks)] = 123.0  # scribble on free blocks
    engine.resume("a", [5, 6, 7])
    steps = 0
    while seq.swapped is not None:
        engine.step()
        engine.check_integrity()
        steps += 1
    assert steps == blocks + 1
    assert torch.equal(kv_of(engine, list(seq.block_table), num_kv), before)
    while engine.has_unfinished():
        engine.step()
        engine.check_integrity()
    log = engine.take_pause_log()
    assert (log[0]["first_action"], log[0]["action"]) == ("swap", "swap")
    assert engine.pauses.swap.used_blocks == 0 and engine.kv.held_tokens == 0


def test_a_tool_back_before_the_copy_out_ends_cancels_it(tiny_model_dir):
    engine = LLMEngine.from_kwargs(model=str(tiny_model_dir), pause_policy=BudgetedSwap(4), **KW)
    _pause_one(engine)
    engine.step()  # one block of nine copied
    assert engine.pauses.swap.used_blocks > 0
    engine.resume("a", [5, 6, 7])
    engine.check_integrity()
    assert engine.pauses.swap.used_blocks == 0
    while engine.has_unfinished():
        engine.step()
        engine.check_integrity()
    log = engine.take_pause_log()
    assert (log[0]["first_action"], log[0]["action"]) == ("swap", "preserve")
