"""Profilers of the real engine on a device, writing the calibration files the simulator's
profiled cost models read: the engine's steps (`profile`, driven by `probe`) and what the
HTTP serving path adds to them (`serving`)."""
