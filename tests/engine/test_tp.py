"""Tensor parallelism as a run-time knob: sharded forward by views, live TP switches, KV
migration between instances; references are `transformers`, the single-process engine and
the unsharded model."""

from __future__ import annotations

import random
import threading

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch.distributed")

from toolkit.engine import LLM, SamplingParams  # noqa: E402
from toolkit.engine.config import ModelConfig  # noqa: E402
from toolkit.engine.loader import build_model  # noqa: E402
from toolkit.engine.model_runner import ModelRunner  # noqa: E402
from toolkit.engine.scheduler import StepPlan  # noqa: E402
from toolkit.engine.sequence import EngineSeq, make_request  # noqa: E402
from toolkit.engine.tp.engine import TPEngine  # noqa: E402
from toolkit.engine.tp.kv import HeadMove, RankKVCache, head_moves  # noqa: E402
from toolkit.engine.tp.shard import ShardedLlama, check_tp, layer_views  # noqa: E402

NUM_NEW = 16
BLOCK = 4
OPTIONS = dict(num_kv_blocks=256, block_size=BLOCK, chunk_size=24, timeout_s=120.0)
# the tiny model: 2 layers, 4 heads, 2 KV heads of 32 dims, float32
TINY_KV_BYTES_PER_TOKEN = 2 * 2 * 2 * 32 * 4  # K and V * layers * kv heads * head_dim * bytes


def random_prompts(num: int, seed: int, lo: int = 3, hi: int = 40,
                   vocab: int = 768) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(3, vocab) for _ in range(rng.randint(lo, hi))] for _ in range(num)]


# -- in one process: views and the sharding rule -----------------------------------------
SMALL = ModelConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=8, num_key_value_heads=4, head_dim=8,
                    initializer_range=0.1)


@pytest.fixture(scope="module")
def small_model():
    torch.set_num_threads(1)
    return build_model(SMALL, torch.float32, torch.device("cpu"), seed=0)


def test_shards_are_views_of_the_full_weights(small_model):
    layer = small_model.model.layers[0]
    params = {p.untyped_storage().data_ptr() for p in small_model.parameters()}
    for tp in (1, 2, 4):
        for rank in range(tp):
            views = layer_views(layer, SMALL, tp, rank)
            assert {v.untyped_storage().data_ptr() for v in views} <= params
    d, hq, hkv, ffn = 8, 8, 4, 128
    v = layer_views(layer, SMALL, 2, 1)  # rank 1 of 2: q heads 4..7, kv heads 2..3
    qkv = layer.self_attn.qkv_proj.weight
    assert torch.equal(v.q, qkv[4 * d:8 * d])
    assert torch.equal(v.kv[0], qkv[(hq + 2) * d:(hq + 4) * d])
    assert torch.equal(v.kv[1], qkv[(hq + hkv + 2) * d:(hq + 2 * hkv) * d])
    assert torch.equal(v.gate_up[1], layer.mlp.gate_up_proj.weight[ffn + 64:])
    assert torch.equal(v.down, layer.mlp.down_proj.weight[:, 64:])


def _threaded_forward(model, tp: int, reduce: bool) -> list[torch.Tensor]:
    """Run `tp` shards in threads, summing partials through a barrier (no torch.distributed),
    over one prefill of 13 tokens in scattered blocks."""
    ids = list(range(5, 18))
    seq = EngineSeq(make_request("a", 0.0, ids, 4, BLOCK, False), ids,
                    SamplingParams(temperature=0.0), None)
    seq.block_table = [3, 7, 1, 9]
    inputs = ModelRunner(model, 16, BLOCK, 64).prepare(StepPlan(prefill=[(seq, len(ids))]))
    barrier, parts, outs = threading.Barrier(tp), [None] * tp, [None] * tp

    def run(rank: int) -> None:
        def all_reduce(t: torch.Tensor) -> None:
            parts[rank] = t.clone()
            barrier.wait()
            total = sum(parts)
            barrier.wait()
            t.copy_(total)

        kv = RankKVCache(model.config, 16, BLOCK, torch.float32, torch.device("cpu"))
        shard = ShardedLlama(model, tp, rank, kv.view(tp), all_reduce if reduce else None)
        with torch.inference_mode():
            outs[rank] = shard.forward(inputs.input_ids, inputs.positions, inputs.meta)

    threads = [threading.Thread(target=run, args=(r,)) for r in range(tp)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with torch.inference_mode():
        outs.append(model(inputs.input_ids, inputs.positions, inputs.meta))
    return outs


@pytest.mark.parametrize("tp", [2, 4])
def test_sharded_forward_equals_full_model(small_model, tp):
    *ranks, full = _threaded_forward(small_model, tp, reduce=True)
    for out in ranks:
        torch.testing.assert_close(out, full, atol=1e-5, rtol=1e-5)
    *ranks, full = _threaded_forward(small_model, tp, reduce=False)
    assert (ranks[0] - full).abs().max() > 1e-2  # the all-reduces are what makes it right


def test_head_moves():
    assert head_moves(2, [0], [0, 1]) == [HeadMove(0, 0, 0, 1), HeadMove(0, 1, 1, 2)]
    assert head_moves(2, [0, 1], [0]) == [HeadMove(0, 0, 0, 1), HeadMove(1, 0, 1, 2)]
    assert head_moves(4, [0, 1, 2, 3], [0, 1]) == [
        HeadMove(0, 0, 0, 1), HeadMove(1, 0, 1, 2), HeadMove(2, 1, 2, 3), HeadMove(3, 1, 3, 4)]
    assert head_moves(4, [0, 1], [2, 3]) == [HeadMove(0, 2, 0, 2), HeadMove(1, 3, 2, 4)]


def test_bad_tp_is_rejected_before_spawning(tiny_model_dir):
    with pytest.raises(ValueError, match="tp=3"):
        check_tp(SMALL, 3)
    with pytest.raises(ValueError, match="tp=4"):
        TPEngine(tiny_model_dir, world_size=4, tp=4)  # 2 KV heads
    with pytest.raises(ValueError, match="num_instances"):
        TPEngine(tiny_model_dir, world_size=3, tp=1, num_instances=2)


# -- two rank processes, the tiny model ----------------------------------------------------
@pytest.fixture(scope="module")
def tp2(tiny_model_dir):
    with TPEngine(tiny_model_dir, world_size=2, tp=2, **OPTIONS) as eng:
        yield eng


@pytest.fixture(scope="module")
def llm(tiny_model_dir):
    return LLM(str(tiny_model_dir), num_kv_blocks=256, block_size=BLOCK, chunk_size=24)


def test_tp2_greedy_matches_engine_and_hf(tp2, llm, hf_greedy):
    tp2.switch_tp(2)
    prompts = random_prompts(5, seed=11)
    result = tp2.generate(prompts, max_tokens=NUM_NEW)
    assert set(result.step_tp) == {2}
    single = llm.generate(prompts, SamplingParams(temperature=0.0, max_tokens=NUM_NEW))
    for out, ref, prompt in zip(result.token_ids, single, prompts):
        assert out == ref.outputs[0].token_ids
        assert out == hf_greedy(prompt, NUM_NEW)


def test_logits_match_hf_and_need_the_all_reduce(tp2, hf_model):
    prompts = random_prompts(3, seed=12)
    with torch.no_grad():
        hf = torch.stack([hf_model(torch.tensor([p])).logits[0, -1] for p in prompts]).numpy()
    for tp in (2, 1):
        tp2.switch_tp(tp)
        got = tp2.prompt_logits(prompts)
        assert abs(got - hf).max() < 1e-4, f"tp={tp}"
    tp2.switch_tp(2)
    wrong = tp2.prompt_logits(prompts, all_reduce=False)
    assert abs(wrong - hf).max() > 1e-2


@pytest.mark.parametrize("schedule", [{3: 1}, {2: 1, 6: 2}])
def test_switch_mid_run_changes_no_output(tp2, schedule):
    tp2.switch_tp(2)
    prompts = random_prompts(6, seed=13, lo=20, hi=60)  # chunked: some still prefill at k=2
    plain = tp2.generate(prompts, max_tokens=NUM_NEW, ignore_eos=True)
    switched = tp2.generate(prompts, max_tokens=NUM_NEW, ignore_eos=True, switch_at=schedule)
    assert switched.token_ids == plain.token_ids
    assert all(len(t) == NUM_NEW for t in switched.token_ids)
    assert switched.finish_reasons == ["length"] * len(prompts)
    assert [s.new_tp for s in switched.switches] == list(schedule.values())
    assert set(switched.step_tp) == {1, 2}
    for s in switched.switches:  # half of the KV heads of every used block crossed over
        assert s.bytes_moved == s.num_blocks * BLOCK * TINY_KV_BYTES_PER_TOKEN // 2
        assert s.switch_s > 0


def test_switch_copies_no_weights(tp2):
    tp2.switch_tp(2)
    before = tp2.inspect()
    tp2.switch_tp(1)
    at_one = tp2.inspect()
    tp2.switch_tp(2)
    after = tp2.inspect()
    assert [i["tp"] for i in before + at_one + after] == [2, 2, 1, 1, 2, 2]
    for b, m, a in zip(before, at_one, after):
        assert b["param_storage"] == m["param_storage"] == a["param_storage"]
        assert b["kv_storage"] == m["kv_storage"] == a["kv_storage"]
        assert set(b["view_storage"]) <= set(b["param_storage"].values())
        assert b["view_storage"] == a["view_storage"]
    assert before[0]["kv_shape"][4] == 1 and at_one[0]["kv_shape"][4] == 2
    assert at_one[1]["view_storage"] == []  # rank 1 idles at tp=1


def test_bad_calls_raise_and_leave_the_engine_working(tp2):
    with pytest.raises(ValueError, match="tp=3"):
        tp2.switch_tp(3)
    rid = tp2.add_request([5, 6, 7], max_tokens=3, ignore_eos=True)
    with pytest.raises(ValueError, match="duplicate"):
        tp2.add_request([5], request_id=rid)
    with pytest.raises(ValueError, match="not another instance"):
        tp2.migrate(rid, 1)
    while tp2.has_unfinished():
        tp2.step()
    tokens, reason = tp2.output(rid, forget=True)
    assert len(tokens) == 3 and reason == "length"


# -- four rank processes: a model with 8 heads and 4 KV heads -----------------------------
@pytest.fixture(scope="module")
def gqa_model(tmp_path_factory):
    """(folder, HF model) of a random Llama with 8 heads, 4 KV heads (TP up to 4)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=4,
                      head_dim=8, bos_token_id=1, eos_token_id=2, max_position_embeddings=512,
                      rms_norm_eps=1e-5)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).float().eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" not in name:
                param.normal_(0.0, 0.1)
    folder = tmp_path_factory.mktemp("gqa-llama")
    model.save_pretrained(str(folder))
    return folder, model


def test_tp4_matches_hf_and_survives_switches(gqa_model):
    folder, hf = gqa_model
    prompts = random_prompts(3, seed=14, lo=5, hi=30, vocab=256)
    refs = []
    for p in prompts:
        with torch.no_grad():
            out = hf.generate(torch.tensor([p]), max_new_tokens=10, do_sample=False,
                              eos_token_id=None, pad_token_id=0)
        refs.append(out[0, len(p):].tolist())
    single = LLM(str(folder), num_kv_blocks=64, block_size=BLOCK).generate(
        prompts, SamplingParams(temperature=0.0, max_tokens=10, ignore_eos=True))
    assert [o.outputs[0].token_ids for o in single] == refs
    with TPEngine(folder, world_size=4, tp=4, **OPTIONS) as eng:
        assert eng.generate(prompts, max_tokens=10, ignore_eos=True).token_ids == refs
        switched = eng.generate(prompts, max_tokens=10, ignore_eos=True,
                                switch_at={2: 2, 4: 1, 6: 4})
    assert switched.token_ids == refs
    assert switched.step_tp == [4, 4, 2, 2, 1, 1, 4, 4, 4, 4]


# -- two TP-1 instances: migration --------------------------------------------------------
def test_migration_continues_identically(tiny_model_dir, llm):
    prompt, other = random_prompts(2, seed=15, lo=13, hi=13)
    params = SamplingParams(temperature=0.0, max_tokens=20, ignore_eos=True)
    ref = llm.generate([prompt], params)[0].outputs[0].token_ids
    with TPEngine(tiny_model_dir, world_size=2, tp=1, num_instances=2, **OPTIONS) as eng:
        eng.add_request(prompt, 20, ignore_eos=True, request_id="moved")
        eng.add_request(other, 12, ignore_eos=True, request_id="stays")
        for _ in range(8):  # prefill + 7 decodes: 13 + 8 tokens, the KV of 20
            eng.step(0)
        with pytest.raises(ValueError, match="not another instance"):
            eng.migrate("moved", 0)
        stats = eng.migrate("moved", 1)
        while eng.has_unfinished(1) or eng.has_unfinished(0):
            eng.step(1)
            eng.step(0)
        moved, stays = eng.output("moved"), eng.output("stays")
    assert moved == (ref, "length")
    assert stays[1] == "length" and len(stays[0]) == 12
    assert (stats.num_tokens, stats.num_blocks) == (20, 5)
    assert stats.bytes_moved == 20 * 2 * 2 * 2 * 32 * 4  # tokens * K,V * layers * heads * d * 4
    assert stats.migrate_s > 0


def test_migration_to_a_full_instance_is_refused_and_the_request_goes_on(tiny_model_dir, llm):
    """Instance 1 (12 blocks of 4 tokens) holds a 30-token prompt with 8 tokens generated:
    10 blocks, 2 free, too few for the 5 of the request to move. The refusal is a ValueError
    and the request stays where it was; once the filler is done the move goes through and
    the output is the unmoved one."""
    prompt, = random_prompts(1, seed=15, lo=13, hi=13)
    filler, = random_prompts(1, seed=16, lo=30, hi=30)
    params = SamplingParams(temperature=0.0, max_tokens=20, ignore_eos=True)
    ref = llm.generate([prompt], params)[0].outputs[0].token_ids
    opts = {**OPTIONS, "num_kv_blocks": 12}
    with TPEngine(tiny_model_dir, world_size=2, tp=1, num_instances=2, **opts) as eng:
        eng.add_request(prompt, 20, ignore_eos=True, request_id="moved", instance=0)
        eng.add_request(filler, 12, ignore_eos=True, request_id="filler", instance=1)
        for _ in range(8):
            eng.step(0)
            eng.step(1)
        with pytest.raises(ValueError, match="no room"):
            eng.migrate("moved", 1)
        assert eng.instance_of("moved") == 0
        while eng.has_unfinished(1):
            eng.step(1)
        eng.migrate("moved", 1)  # the filler is done: room now
        while eng.has_unfinished(1):
            eng.step(1)
        assert eng.output("moved") == (ref, "length")


def test_a_request_migrated_away_and_back_continues_identically(tiny_model_dir, llm):
    """0 -> 1 -> 0: the source forgets a request it exported, so taking it back is no
    duplicate, and the output is the unmoved one."""
    prompt, = random_prompts(1, seed=15, lo=13, hi=13)
    params = SamplingParams(temperature=0.0, max_tokens=20, ignore_eos=True)
    ref = llm.generate([prompt], params)[0].outputs[0].token_ids
    with TPEngine(tiny_model_dir, world_size=2, tp=1, num_instances=2, **OPTIONS) as eng:
        eng.add_request(prompt, 20, ignore_eos=True, request_id="r", instance=0)
        for _ in range(4):
            eng.step(0)
        eng.migrate("r", 1)
        for _ in range(4):
            eng.step(1)
        eng.migrate("r", 0)
        assert eng.instance_of("r") == 0
        while eng.has_unfinished(0):
            eng.step(0)
        assert not eng.has_unfinished(1)
        assert eng.output("r") == (ref, "length")


# -- a tiled world: instances regrouped at run time ----------------------------------------
def _run_regrouped(eng, prompts, max_tokens, plan):
    """Spread the prompts over the instances, then at each (step, new_tp) of `plan` move the
    requests of instances that would vanish onto the first of their block and regroup;
    run everything to the end. Outputs in prompt order."""
    rids = [eng.add_request(p, max_tokens, ignore_eos=True, request_id=f"r{i}",
                            instance=i % eng.num_instances) for i, p in enumerate(prompts)]
    todo = dict(plan)
    for k in range(10_000):
        if k in todo:
            new_tp = todo.pop(k)
            eng.vacate(new_tp)
            eng.switch_tp(new_tp)
        busy = [i for i in range(eng.num_instances) if eng.has_unfinished(i)]
        if not busy and not todo:
            break
        if busy:
            eng.step_many(busy)
    return [eng.output(r, forget=True)[0] for r in rids]


def test_tiled_regroup_changes_no_output(tiny_model_dir, llm):
    prompts = random_prompts(8, seed=21, lo=5, hi=40)
    params = SamplingParams(temperature=0.0, max_tokens=12, ignore_eos=True)
    ref = [o.outputs[0].token_ids for o in llm.generate(prompts, params)]
    with TPEngine(tiny_model_dir, world_size=2, tp=1, tiled=True, **OPTIONS) as eng:
        assert eng.num_instances == 2
        with pytest.raises(ValueError, match="move them first"):
            eng.add_request(prompts[0], 4, request_id="x", instance=1)
            eng.switch_tp(2)
        eng.step(1)
        assert eng.move_all(1, 0) == ["x"]  # decoding now: it migrates with its KV
        # merge (KV of instance 0 re-split over both ranks), then split back: rank 1 leads
        # a fresh instance again
        got = _run_regrouped(eng, prompts, 12, {2: 2, 5: 1, 8: 2, 9: 1})
        assert (eng.tp, eng.num_instances) == (1, 2)
        again = eng.add_request(prompts[1], 12, ignore_eos=True, instance=1)
        while eng.has_unfinished(1):
            eng.step(1)
        assert eng.output(again)[0] == ref[1]
        assert eng.output("x") == (ref[0][:4], "length")
    assert got == ref


def test_tiled_regroup_over_four_ranks(gqa_model):
    folder, _ = gqa_model
    prompts = random_prompts(8, seed=22, lo=5, hi=30, vocab=256)
    with TPEngine(folder, world_size=4, tp=4, **OPTIONS) as eng:
        ref = eng.generate(prompts, max_tokens=10, ignore_eos=True).token_ids
    with TPEngine(folder, world_size=4, tp=1, tiled=True, **OPTIONS) as eng:
        got = _run_regrouped(eng, prompts, 10, {2: 2, 4: 1, 6: 4, 8: 2})
        assert (eng.tp, eng.num_instances) == (2, 2)
    assert got == ref
