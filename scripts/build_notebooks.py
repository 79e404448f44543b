"""Write the thin papermill notebooks in notebooks/ from the specs below.

Each notebook: a `parameters` cell (backend, quick, overrides, results_dir), calls into
`experiments.<paper>.figures`, a plot, a saved PNG and a table. Run this after editing a
spec; the notebooks are committed with their outputs stripped.
"""

from __future__ import annotations

from pathlib import Path

import nbformat as nbf

ROOT = Path(__file__).resolve().parents[1]

PARAMS = """backend = "sim"
quick = False
overrides = []
results_dir = "results/preble"
"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}


def nb(name: str, cells: list[tuple[str, str]]) -> None:
    NOTEBOOKS[name] = cells


def write_all() -> None:
    for name, cells in NOTEBOOKS.items():
        book = nbf.v4.new_notebook()
        book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
        for kind, src in cells:
            if kind == "md":
                book.cells.append(nbf.v4.new_markdown_cell(src.strip()))
            else:
                cell = nbf.v4.new_code_cell(src.strip())
                if kind == "params":
                    cell.metadata["tags"] = ["parameters"]
                book.cells.append(cell)
        for i, cell in enumerate(book.cells):  # stable ids: rebuilding changes nothing
            cell["id"] = f"cell-{i:02d}"
        path = ROOT / "notebooks" / f"{name}.ipynb"
        path.parent.mkdir(exist_ok=True)
        nbf.write(book, path)
        print("wrote", path.relative_to(ROOT))


from notebook_specs import register  # noqa: E402  (beside this file)

if __name__ == "__main__":
    register(nb)
    write_all()
