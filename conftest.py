"""Shared pytest fixtures and markers (slow, gpu, interpreter, vllm, notebook)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("TOOLKIT_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` (override with TOOLKIT_SHARED); tests needing it skip when absent."""
    if not SHARED.exists():
        pytest.skip(f"shared folder not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def data_dir(shared_dir: Path) -> Path:
    path = shared_dir / "data"
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def calibration_dir(shared_dir: Path) -> Path:
    """`../shared/calibration` (the toolkit's own copies live in `toolkit/cost/data`)."""
    path = shared_dir / "calibration"
    if not path.exists():
        pytest.skip(f"shared calibration not found at {path}")
    return path
