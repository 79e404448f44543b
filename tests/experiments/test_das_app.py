"""The DAS app end to end in quick settings: the engine's RL loop (tiny policy, GRPO) and
the simulator; the files and columns the issue names."""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from experiments.common.sweep import compose_config  # noqa: E402
from experiments.das.runner import run_das  # noqa: E402

QUICK = ["rl.steps=2", "task.num_problems=6", "rl.group_size=3"]
ROLLOUT_COLUMNS = {"step", "problem_id", "sample_index", "num_output_tokens", "num_draft_tokens",
                   "num_accepted_tokens", "num_verify_steps", "reward", "finish_s",
                   "output_token_ids"}


def run(tmp_path, *overrides):
    cfg = compose_config("experiments.das.conf", [*QUICK, *overrides])
    summary = run_das(cfg, tmp_path)
    df = pd.read_parquet(tmp_path / "rollouts.parquet")
    assert set(df.columns) >= ROLLOUT_COLUMNS
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert len(summary["generation_s_per_step"]) == 2
    for key in ("mean_accepted_per_verify", "makespan_s"):
        assert key in summary
    return df, summary


def test_engine_rl_loop_with_das(tmp_path):
    df, s = run(tmp_path, "drafter=das", "budget=length_aware")
    assert len(df) == 2 * 6 * 3
    assert df["num_accepted_tokens"].sum() > 0
    assert (df["num_accepted_tokens"] <= df["num_draft_tokens"]).all()
    assert set(df["reward"].unique()) <= {0.0, 1.0}
    steps = pd.read_parquet(tmp_path / "steps.parquet")
    assert {"running", "tokens", "model_s"} <= set(steps.columns)


def test_engine_without_speculation_drafts_nothing(tmp_path):
    df, s = run(tmp_path, "drafter=none", "budget=none", "rl.train=false")
    assert df["num_draft_tokens"].sum() == 0
    assert s["mean_accepted_per_verify"] == 0.0


def test_sim_at_small_scale(tmp_path):
    df, s = run(tmp_path, "backend=sim", "backend.num_prompts=8", "backend.group_size=4",
                "backend.max_len=2048", "drafter=das", "budget=classes")
    assert len(df) == 2 * 8 * 4
    assert df["num_output_tokens"].max() <= 2048
    assert s["makespan_s"] > 0


def test_sim_records_repeat_bit_for_bit(tmp_path):
    """The drafter's proposal time is measured once per drafter and corpus and read back,
    so a second run of the same config writes the same records."""
    ov = ["backend=sim", "backend.num_prompts=4", "backend.group_size=2", "backend.max_len=1024",
          "drafter=das", "budget=length_aware"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, s1 = run(tmp_path / "a", *ov)
    second, s2 = run(tmp_path / "b", *ov)
    pd.testing.assert_frame_equal(first, second)
    assert s1 == s2 and s1["draft_s"] > 0


def test_unknown_drafter_setting_is_rejected(tmp_path):
    with pytest.raises(Exception, match="bogus"):
        run(tmp_path, "drafter=ngram", "+drafter.bogus=1")
