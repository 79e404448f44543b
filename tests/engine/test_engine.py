"""The engine loop: logits against `transformers`, events and records, block accounting."""

from __future__ import annotations

import math

import torch

from tests.engine.test_generate import random_prompts, shared_prefix_prompts
from toolkit.engine import EngineConfig, LLMEngine, SamplingParams
from toolkit.engine.config import ModelConfig
from toolkit.engine.scheduler import StepPlan
from toolkit.engine.sequence import EngineSeq, block_hashes, make_request


def test_forward_logits_match_hf(tiny_model_dir, hf_model):
    engine = LLMEngine.from_kwargs(model=str(tiny_model_dir), num_kv_blocks=32, block_size=4,
                                   device="cpu", dtype="float32")  # HF reference runs there
    prompt = random_prompts(1, seed=11, lo=37, hi=37)[0]
    req = make_request("x", 0.0, prompt, 1, block_size=4)
    seq = EngineSeq(req, prompt, SamplingParams(temperature=0), None)
    assert engine.kv.admit(seq)
    runner = engine.runner
    inputs = runner.prepare(StepPlan(prefill=[(seq, len(prompt))]))
    with torch.inference_mode():
        hidden = runner.model(inputs.input_ids, inputs.positions, inputs.meta)
        logits = runner.model.compute_logits(hidden)
        ref = hf_model(torch.tensor([prompt])).logits[0]
    torch.testing.assert_close(logits, ref, atol=1e-4, rtol=1e-4)


class Listener:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def on_first_token(self, engine_id, seq, time_s) -> None:
        self.events.append(("first_token", seq.id))

    def on_finish(self, engine_id, seq, time_s) -> None:
        self.events.append(("finish", seq.id))

    def on_fail(self, engine_id, seq, time_s, reason) -> None:
        self.events.append(("fail", seq.id))

    def on_preempt(self, engine_id, seq, time_s) -> None:
        self.events.append(("preempt", seq.id))


def test_events_records_and_block_accounting(tiny_model_dir):
    listener = Listener()
    config = EngineConfig(model=str(tiny_model_dir), num_kv_blocks=30, block_size=4, chunk_size=12,
                          engine_id=3)
    engine = LLMEngine(config, listener=listener)
    prompts = shared_prefix_prompts(4, 20, seed=12) + random_prompts(3, seed=13, lo=10, hi=30)
    params = SamplingParams(temperature=0.0, max_tokens=20, ignore_eos=True)
    ids = [engine.add_request(p, params) for p in prompts]
    too_long = engine.add_request(list(range(3, 200)), params)
    while engine.has_unfinished():
        engine.step()
        engine.check_integrity()
    assert engine.kv.held_tokens == 0
    records = {r.request_id: r for r in engine.take_records()}
    assert records[too_long].failed and ("fail", too_long) in listener.events
    for rid in ids:
        rec = records[rid]
        assert not rec.failed and rec.engine_id == 3 and rec.num_output_tokens == 20
        assert rec.arrival_s <= rec.first_token_s <= rec.finish_s
        assert listener.events.count(("first_token", rid)) == 1
        assert listener.events.count(("finish", rid)) == 1
        assert rec.num_preemptions == listener.events.count(("preempt", rid))
    assert any(r.num_preemptions for r in records.values())
    assert any(r.num_cached_tokens > 0 for r in records.values())
    assert not engine.records


def test_abort_frees_blocks(tiny_model_dir):
    engine = LLMEngine.from_kwargs(model=str(tiny_model_dir), num_kv_blocks=64, block_size=4)
    params = SamplingParams(temperature=0.0, max_tokens=50, ignore_eos=True)
    a, b = (engine.add_request(p, params) for p in random_prompts(2, seed=14))
    for _ in range(3):
        engine.step()
    assert engine.abort_request(a) and not engine.abort_request("nope")
    while engine.has_unfinished():
        engine.step()
    engine.check_integrity()
    assert engine.output(a).outputs[0].finish_reason == "abort"
    assert engine.output(b).outputs[0].finish_reason == "length"
    assert engine.stats().num_running == 0


def test_random_weights_from_config():
    cfg = ModelConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=1, head_dim=8,
                      max_position_embeddings=256)
    outs = []
    for _ in range(2):
        engine = LLMEngine.from_kwargs(model_config=cfg, num_kv_blocks=32, seed=5)
        rid = engine.add_request([1, 2, 3, 4, 5], SamplingParams(temperature=0, max_tokens=8))
        while engine.has_unfinished():
            engine.step()
        outs.append(engine.output(rid).outputs[0].token_ids)
        assert math.isnan(engine.records[rid].first_token_s) is False
    assert outs[0] == outs[1] and len(outs[0]) == 8


def test_block_hashes_chain():
    a = block_hashes(list(range(10)), 4)
    b = block_hashes(list(range(8)) + [99, 98, 97, 96], 4)
    c = block_hashes([7] + list(range(1, 10)), 4)
    assert len(a) == 2 and a == b[:2] and len(b) == 3
    assert c[0] != a[0] and c[1] != a[1]  # a different first block changes every later hash
