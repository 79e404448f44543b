"""Cost models: the only thing a simulated engine asks about time."""
