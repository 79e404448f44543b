"""Package data: calibration tables copied from ../shared/calibration (H200, 2026-11-28)."""
