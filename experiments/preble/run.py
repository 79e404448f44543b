"""Preble experiments: `python -m experiments.preble.run [overrides]` (a Hydra app).

Examples::

    python -m experiments.preble.run system=preble workload=toolbench workload.rps=12
    python -m experiments.preble.run -m +experiment=fig3_mistral_a6000x2 hydra/launcher=joblib
"""

from __future__ import annotations

import logging

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from experiments.common.runner import run_config

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per proxied request otherwise


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one configuration into Hydra's run directory; return the mean latency."""
    out_dir = HydraConfig.get().runtime.output_dir
    _, summary = run_config(cfg, out_dir)
    log.info("mean latency %.3f s, p99 %.3f s, hit ratio %.3f -> %s",
             summary["latency_s_mean"], summary["latency_s_p99"], summary["cache_hit_ratio"], out_dir)
    return float(summary["latency_s_mean"])


if __name__ == "__main__":
    main()
