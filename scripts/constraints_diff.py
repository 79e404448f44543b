"""Print the packages whose versions differ between two constraints/freeze files.

    python scripts/constraints_diff.py constraints/toolkit.txt NEW.txt

Standard library only (it runs before any venv exists)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def read_pins(path: Path) -> dict[str, str]:
    """name (normalized as PEP 503 does) -> pinned version, for every `name==version` line."""
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins


def same(a: str | None, b: str | None) -> bool:
    """Equal pins; `2.13.0` also equals `2.13.0+cpu`, as `==2.13.0` admits it (PEP 440)."""
    if a is None or b is None:
        return a is b
    return a == b or a.split("+")[0] == b or b.split("+")[0] == a


def main(old_path: str, new_path: str) -> int:
    old, new = read_pins(Path(old_path)), read_pins(Path(new_path))
    rows = [(name, old.get(name, "-"), new.get(name, "-"))
            for name in sorted(old.keys() | new.keys()) if not same(old.get(name), new.get(name))]
    if not rows:
        print(f"same versions in {old_path} and {new_path}")
    for name, was, now in rows:
        print(f"{name:32s} {was:>16s} -> {now}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
