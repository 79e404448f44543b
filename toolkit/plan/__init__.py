"""Cluster planners (Nitsum and its baselines): how a GPU pool is cut into TP groups, which
tier each group serves, and where each request goes. Backend-free: the simulator applies a
plan; nothing here imports a backend."""
