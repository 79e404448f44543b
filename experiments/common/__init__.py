"""What every paper's Hydra app shares: build a cluster from a config, run it, write results."""
