"""Exporting series as CSV or XLSX, streamed: rows are read in batches and written as they come.

CSV gives times as ISO 8601 with the offset of the tenant's time zone. Excel cannot
store an offset with a date, so XLSX gives the local wall-clock time as an Excel
date plus a `utc_offset` column (the hour after a DST fall-back repeats; the offset
tells the two apart). The XLSX workbook is built by openpyxl in write-only mode,
which spools rows to a temporary file, then streamed from there in chunks.

Raw rows carry each value's `status` (measured, unless a batch source delivered a
substitute, provisional or estimated value) and `interval_end`, the end of the interval a
value covers (a quarter-hour energy value, whose `time` is the interval's start), empty
for a value at an instant.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from leitstand.telemetry.queries import Bucket, RawValue
from leitstand.telemetry.store import zone

RAW_COLUMNS = ("device_id", "key", "time", "value", "status", "interval_end")
# Times that may be empty: XLSX gives them their offset column whether the first row has one or not.
OPTIONAL_TIME_COLUMNS = frozenset({"interval_end"})
BUCKET_COLUMNS = ("device_id", "key", "bucket_start", "count", "sum", "min", "max", "avg", "last", "last_at")
CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK = 64 * 1024
EXCEL_MAX_ROWS = 1_048_576  # per sheet, header included
DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"

Row = Sequence[Any]


def raw_rows(points: Iterable[RawValue], time_zone: str) -> Iterator[Row]:
    local = zone(time_zone)
    for point in points:
        end = point.interval_end
        yield (point.device_id, point.key, point.at.astimezone(local), point.value, point.status,
               end.astimezone(local) if end is not None else None)


def bucket_rows(buckets: Iterable[Bucket], time_zone: str) -> Iterator[Row]:
    local = zone(time_zone)
    for bucket in buckets:
        yield (bucket.device_id, bucket.key, bucket.start.astimezone(local), bucket.count, bucket.sum, bucket.min,
               bucket.max, bucket.avg, bucket.last, bucket.last_at.astimezone(local))


def csv_lines(columns: Sequence[str], rows: Iterable[Row]) -> Iterator[str]:
    """The header and then one line per row, flushed every few hundred lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for number, row in enumerate(rows, 1):
        writer.writerow([value.isoformat() if isinstance(value, datetime) else value for value in row])
        if number % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx_chunks(columns: Sequence[str], rows: Iterable[Row], title: str = "telemetry") -> Iterator[bytes]:
    """An XLSX workbook of the rows, in chunks of bytes. Starts a new sheet when one is full.

    Every aware datetime becomes a naive local Excel date followed by a `<column>_utc_offset` cell.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    header: list[str] | None = None
    sheet, filled, sheets = None, EXCEL_MAX_ROWS, 0
    for row in rows:
        if header is None:
            header = _xlsx_header(columns, row)
        if filled >= EXCEL_MAX_ROWS:
            sheets += 1
            sheet = workbook.create_sheet(title if sheets == 1 else f"{title} {sheets}")
            sheet.append(header)
            filled = 1
        cells: list[Any] = []
        for column, value in zip(columns, row, strict=True):
            if isinstance(value, datetime):
                cell = WriteOnlyCell(sheet, value.replace(tzinfo=None))
                cell.number_format = DATE_FORMAT
                cells.extend((cell, _offset(value)))
            elif value is None and column in OPTIONAL_TIME_COLUMNS:
                cells.extend((None, None))
            else:
                cells.append(value)
        sheet.append(cells)  # type: ignore[union-attr]
        filled += 1
    if sheet is None:  # no rows: a sheet with the plain header
        workbook.create_sheet(title).append(list(columns))
    with tempfile.TemporaryFile() as spool:
        workbook.save(spool)
        spool.seek(0)
        while chunk := spool.read(CHUNK):
            yield chunk


def _xlsx_header(columns: Sequence[str], first_row: Row) -> list[str]:
    header: list[str] = []
    for column, value in zip(columns, first_row, strict=True):
        header.append(column)
        if isinstance(value, datetime) or column in OPTIONAL_TIME_COLUMNS:
            header.append(f"{column}_utc_offset")
    return header


def _offset(value: datetime) -> str:
    """"+01:00" for Berlin in winter."""
    offset = value.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
