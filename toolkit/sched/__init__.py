"""Local (per-engine) batch schedulers: FCFS, longest-prefix-match, Preble priority groups."""
