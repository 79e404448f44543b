"""InferCept experiments: `python -m experiments.infercept.run [overrides]` (a Hydra app).

Examples::

    python -m experiments.infercept.run policy=infercept workload.rps=1.5
    python -m experiments.infercept.run -m policy=vllm,improved_discard,preserve,swap,infercept \\
        workload.rps=1.0,1.5,2.0 setup=vicuna13b_a100x2 hydra/launcher=joblib
"""

from __future__ import annotations

import logging

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from experiments.infercept.runner import run_infercept

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one configuration into Hydra's run directory; return the mean normalized latency."""
    out_dir = HydraConfig.get().runtime.output_dir
    _, s = run_infercept(cfg, out_dir)
    log.info("normalized latency %.1f ms/token (p99 %.1f), %.3f req/s, waste %.1f%% -> %s",
             s["norm_latency_ms_mean"], s["norm_latency_ms_p99"], s["throughput_rps"],
             100 * s.get("waste_frac", float("nan")), out_dir)
    return float(s["norm_latency_ms_mean"])


if __name__ == "__main__":
    main()
