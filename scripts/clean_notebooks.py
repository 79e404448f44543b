"""Strip outputs and execution counts from the committed notebooks and give their cells
stable ids, after editing them in Jupyter: `python scripts/clean_notebooks.py [NOTEBOOK ...]`
(default: every notebook in notebooks/). The notebooks are their own source; ruff lints them
and tests/notebooks/test_structure.py checks their shape."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def clean(path: Path) -> bool:
    """Clean one notebook in place; return whether it changed."""
    before = path.read_text()
    book = nbformat.read(path, as_version=4)
    book.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}}
    for i, cell in enumerate(book.cells):
        cell["id"] = f"cell-{i:02d}"
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(book, path)
    return path.read_text() != before


def main(argv: list[str]) -> None:
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        if clean(path):
            print("cleaned", path)


if __name__ == "__main__":
    main(sys.argv[1:])
