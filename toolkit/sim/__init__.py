"""Discrete-event simulator: event loop, simulated engines, simulated cluster."""
