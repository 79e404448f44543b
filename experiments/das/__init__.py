"""DAS (arXiv 2511.13841): speculative decoding for RL rollouts, on a tiny policy trained
here (the engine) and at the paper's scale (the simulator)."""
