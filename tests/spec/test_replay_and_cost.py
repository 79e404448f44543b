"""Replaying a drafter over recorded rollouts (hand-computed case), the verify-step cost
table (its own points back, linear beyond the largest batch), and the cache publisher."""

from __future__ import annotations

import pytest

from toolkit.cost.verify import VerifyCost
from toolkit.spec.das import DASDrafter
from toolkit.spec.replay import Rollout, replay


def test_replay_counts_what_the_recorded_tokens_confirm():
    first = [Rollout("p", 0, [9], [1, 2, 3, 1, 2, 3])]
    second = [Rollout("p", 1, [9], [1, 2, 3, 1, 2, 4])]
    rows = replay(DASDrafter(window=None, depth=8), [first, second], max_tokens=3)
    e1 = rows[rows["epoch"] == 1].set_index("position")
    # epoch 1 sees epoch 0's [1 2 3 1 2 3]: at position 0 the context ends in 9 (no match);
    # at position 1 (after 1) it drafts 2 3 1 and the recording has 2 3 1: all 3 match
    assert e1.loc[0, "drafted"] == 0
    assert (e1.loc[1, "drafted"], e1.loc[1, "matched"]) == (3, 3)
    # at position 4 (after 1 2 3 1): drafts 2 3 ..., the recording has 2 4: one matches
    assert e1.loc[4, "matched"] == 1
    assert (rows["matched"] <= rows["drafted"]).all()


def test_verify_cost_returns_its_points_and_extends_linearly():
    cost = VerifyCost.from_jsonl()
    for b, q, c, s in cost.points():
        assert cost(b, q, c) == pytest.approx(s)
    b1, b2 = cost.batches[-2], cost.batches[-1]
    slope = (cost(b2, 4, 2048) - cost(b1, 4, 2048)) / (b2 - b1)
    assert cost(2 * b2, 4, 2048) == pytest.approx(cost(b2, 4, 2048) + slope * b2)
    assert cost(0, 1, 2048) == 0.0


def test_verify_cost_rejects_a_ragged_grid():
    with pytest.raises(ValueError, match="grid"):
        VerifyCost([(1, 1, 100, 0.1), (2, 2, 100, 0.2)])


def test_graph_table_reads_k_columns():
    cost = VerifyCost.from_graph_table()
    assert list(cost.qs) == [1, 2, 4, 8, 16, 32]
    assert cost(1, 1, 1024) == pytest.approx(0.004886719942092895)


def test_publish_is_safe_when_two_builders_race(tmp_path):
    from experiments.das.policy import publish

    out = tmp_path / "thing"
    publish(out, lambda tmp: (tmp / "a.txt").write_text("first"))
    publish(out, lambda tmp: (tmp / "a.txt").write_text("second"))  # loses the race
    assert (out / "a.txt").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["thing"]
