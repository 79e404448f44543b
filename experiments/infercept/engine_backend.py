"""`backend=engine_inprocess` for InferCept: the toolkit's engine with the configured pause
policy, a trace replayed in real time with the tools played by the driver."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig

from experiments.common.backends import model_dir
from experiments.common.runner import build_trace, write_results
from experiments.infercept.metrics import infercept_summary, with_pause_columns
from toolkit.core.context_limit import fit_trace_context
from toolkit.core.errors import ConfigError
from toolkit.core.policy import build_policy
from toolkit.core.record import records_to_frame


def engine_config(cfg: DictConfig):
    """The engine's config: tiny (or given) model, the pause policy and the local scheduler
    built from their config nodes."""
    from toolkit.engine.config import EngineConfig

    b = cfg.backend
    timeout = cfg.run.pause_timeout_s
    return EngineConfig(
        model=str(model_dir(cfg)), block_size=int(b.block_size),
        num_kv_blocks=int(b.num_kv_blocks), scheduler=build_policy(cfg.local_sched),
        seed=int(cfg.seed), dtype="float32", device="cpu",
        pause_policy=instantiate(cfg.policy), swap_space_tokens=int(b.swap_space_tokens),
        pause_timeout_s=None if timeout is None else float(timeout),
    )


def run_engine(cfg: DictConfig, out_dir: str | Path | None) -> tuple[pd.DataFrame, dict]:
    """Replay the workload on one in-process engine; write records, pauses and summary."""
    import torch

    from toolkit.core.record import PAUSE_COLUMNS
    from toolkit.engine.engine import LLMEngine
    from toolkit.engine.replay_pauses import replay_pauses_inprocess

    trace, truncated = fit_trace_context(build_trace(cfg), cfg.model.get("max_context_len"))
    if any(r.prompt_token_ids is None for r in trace):
        raise ConfigError("workload.token_ids", "the engine needs token ids: set "
                          "workload.token_ids=true (and vocab_size, max_context_len to fit)")
    torch.set_num_threads(int(cfg.backend.threads_per_engine))
    engine = LLMEngine(engine_config(cfg))
    records, log = replay_pauses_inprocess(engine, trace, seed=int(cfg.seed))
    df = with_pause_columns(records_to_frame(records), trace)
    df["context_truncated"] = df["request_id"].isin(truncated)
    pauses = pd.DataFrame(log, columns=[*PAUSE_COLUMNS, "outcome"]) if log else \
        pd.DataFrame(columns=[*PAUSE_COLUMNS, "outcome"])
    end_s = float(df["finish_s"].max()) if len(df) else 0.0
    summary = infercept_summary(df, pauses, [], cfg, end_s=end_s)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        pauses.to_parquet(Path(out_dir) / "pauses.parquet", index=False)
        write_results(out_dir, cfg, df, summary)
    return df, summary
