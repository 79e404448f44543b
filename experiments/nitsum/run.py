"""Nitsum experiments: `python -m experiments.nitsum.run [overrides]` (a Hydra app).

Examples::

    python -m experiments.nitsum.run policy=nitsum workload.rps=70
    python -m experiments.nitsum.run -m policy=static_tp,static_tp_slo,split,migrate,nitsum \\
        cluster.tp=1,2,4 workload.rps=20,40,70
    python -m experiments.nitsum.run policy=nitsum policy.switch.reuse=false  # naive TP switch
"""

from __future__ import annotations

import logging

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from experiments.nitsum.runner import run_nitsum

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one configuration into Hydra's run directory; return its goodput (req/s)."""
    out_dir = HydraConfig.get().runtime.output_dir
    s = run_nitsum(cfg, out_dir)
    tiers = ", ".join(f"{k} {v['slo_attainment']:.0%}" for k, v in s["tiers"].items())
    log.info("goodput %.2f req/s (%.2f per GPU), attainment %s, %d reconfigurations -> %s",
             s["goodput_rps"], s["goodput_rps_per_gpu"], tiers, s["num_reconfigurations"],
             out_dir)
    return float(s["goodput_rps"])


if __name__ == "__main__":
    main()
