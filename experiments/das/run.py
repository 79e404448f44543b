"""DAS experiments: `python -m experiments.das.run [overrides]` (a Hydra app).

Examples::

    python -m experiments.das.run drafter=das budget=length_aware rl.steps=8
    python -m experiments.das.run -m drafter=none,das das.window=1,4,16,null
    python -m experiments.das.run backend=sim drafter=das budget=length_aware
"""

from __future__ import annotations

import logging

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from experiments.das.runner import run_das

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one configuration into Hydra's run directory; return the total generation time."""
    out_dir = HydraConfig.get().runtime.output_dir
    s = run_das(cfg, out_dir)
    rewards = [r for r in s["reward_per_step"] if r is not None]
    log.info("generation %.2f s over %d steps, %.2f accepted per verify, last reward %s -> %s",
             s["generation_s"], len(s["generation_s_per_step"]), s["mean_accepted_per_verify"],
             f"{rewards[-1]:.2f}" if rewards else "n/a (simulator)", out_dir)
    return float(s["generation_s"])


if __name__ == "__main__":
    main()
