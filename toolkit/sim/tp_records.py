"""Records that stream to parquet in row groups as requests finish."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


class RecordSink:
    """Collects finished request ids; `write` appends one row group per call. The simulator
    closes it in a `finally`, so a run that fails halfway leaves the rows it wrote."""

    def __init__(self, path: str | Path, row_group: int = 100_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.row_group = row_group
        self.ids: list[int] = []
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def add(self, rid: int) -> None:
        self.ids.append(rid)

    def due(self) -> bool:
        return len(self.ids) >= self.row_group

    def take(self) -> np.ndarray:
        ids, self.ids = self.ids, []
        return np.asarray(ids, np.int64)

    def write(self, columns: dict[str, np.ndarray]) -> None:
        table = pa.table(columns)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
