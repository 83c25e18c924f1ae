"""CSV and XLSX exports of raw and aggregated series, read back."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

from leitstand.telemetry import export, queries
from leitstand.telemetry.queries import Bucket, RawValue
from leitstand.telemetry.store import Point, write_points
from leitstand.tenancy.scope import AccessScope, bind_scope, system_session

BERLIN = "Europe/Berlin"
T0 = datetime(2026, 10, 24, 22, tzinfo=UTC)  # 25 October 00:00 CEST, the 25-hour day


def sample_points() -> list[RawValue]:
    return [RawValue(7, "temperature", T0 + timedelta(minutes=30 * i), 20.0 + i) for i in range(8)] + [
        RawValue(7, "position", T0, "open")]


def read_xlsx(data: bytes) -> list[list[object]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    rows = [list(row) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True)]
    workbook.close()
    return rows


def test_raw_csv_has_a_header_and_local_times_with_offset():
    text = "".join(export.csv_lines(export.RAW_COLUMNS, export.raw_rows(sample_points(), BERLIN)))
    rows = list(csv.reader(io.StringIO(text)))

    assert rows[0] == ["device_id", "key", "time", "value", "status", "interval_end"]
    assert rows[1] == ["7", "temperature", "2026-10-25T00:00:00+02:00", "20.0", "measured", ""]
    assert rows[-1] == ["7", "position", "2026-10-25T00:00:00+02:00", "open", "measured", ""]
    assert len(rows) == 10


def test_raw_xlsx_opens_and_holds_every_row_with_local_time_and_offset():
    data = b"".join(export.xlsx_chunks(export.RAW_COLUMNS, export.raw_rows(sample_points(), BERLIN)))
    rows = read_xlsx(data)

    assert data[:2] == b"PK"
    assert rows[0] == ["device_id", "key", "time", "time_utc_offset", "value", "status", "interval_end",
                       "interval_end_utc_offset"]
    # openpyxl reads a row without its empty cells at the end: no interval end here
    assert rows[1] == [7, "temperature", datetime(2026, 10, 25, 0, 0), "+02:00", 20.0, "measured"]
    assert rows[-1] == [7, "position", datetime(2026, 10, 25, 0, 0), "+02:00", "open", "measured"]
    assert len(rows) == 10


def test_the_repeated_hour_of_the_autumn_change_is_told_apart_by_its_offset():
    points = [RawValue(1, "t", datetime(2026, 10, 25, 0, 30, tzinfo=UTC), 1.0),
              RawValue(1, "t", datetime(2026, 10, 25, 1, 30, tzinfo=UTC), 2.0)]
    rows = read_xlsx(b"".join(export.xlsx_chunks(export.RAW_COLUMNS, export.raw_rows(points, BERLIN))))

    assert [(row[2], row[3]) for row in rows[1:]] == [
        (datetime(2026, 10, 25, 2, 30), "+02:00"), (datetime(2026, 10, 25, 2, 30), "+01:00")]


def test_aggregates_export_as_csv_and_xlsx():
    bucket = Bucket(3, "energy", T0, 4, 10.0, 1.0, 4.0, 4.0, T0 + timedelta(hours=24, minutes=45))
    csv_rows = list(csv.reader(io.StringIO("".join(export.csv_lines(export.BUCKET_COLUMNS, export.bucket_rows([bucket], BERLIN))))))
    xlsx_rows = read_xlsx(b"".join(export.xlsx_chunks(export.BUCKET_COLUMNS, export.bucket_rows([bucket], BERLIN))))

    assert csv_rows == [list(export.BUCKET_COLUMNS), ["3", "energy", "2026-10-25T00:00:00+02:00", "4", "10.0", "1.0",
                                                      "4.0", "2.5", "4.0", "2026-10-25T23:45:00+01:00"]]
    assert xlsx_rows[0] == ["device_id", "key", "bucket_start", "bucket_start_utc_offset", "count", "sum", "min", "max",
                            "avg", "last", "last_at", "last_at_utc_offset"]
    assert xlsx_rows[1] == [3, "energy", datetime(2026, 10, 25), "+02:00", 4, 10.0, 1.0, 4.0, 2.5, 4.0,
                            datetime(2026, 10, 25, 23, 45), "+01:00"]


def test_a_substitute_value_over_a_quarter_hour_exports_its_status_and_interval():
    start = datetime(2026, 10, 25, 9, 0, tzinfo=UTC)
    points = [RawValue(3, "energy", start, 1.25, "substitute", start + timedelta(minutes=15)),
              RawValue(3, "energy", start + timedelta(minutes=15), 1.5)]

    csv_rows = list(csv.reader(io.StringIO("".join(export.csv_lines(export.RAW_COLUMNS,
                                                                   export.raw_rows(points, BERLIN))))))
    xlsx_rows = read_xlsx(b"".join(export.xlsx_chunks(export.RAW_COLUMNS, export.raw_rows(points, BERLIN))))

    assert csv_rows[1:] == [
        ["3", "energy", "2026-10-25T10:00:00+01:00", "1.25", "substitute", "2026-10-25T10:15:00+01:00"],
        ["3", "energy", "2026-10-25T10:15:00+01:00", "1.5", "measured", ""]]
    assert xlsx_rows[1:] == [
        [3, "energy", datetime(2026, 10, 25, 10, 0), "+01:00", 1.25, "substitute", datetime(2026, 10, 25, 10, 15),
         "+01:00"],
        [3, "energy", datetime(2026, 10, 25, 10, 15), "+01:00", 1.5, "measured"]]  # empty cells at the end cut


def test_empty_exports_still_open():
    assert "".join(export.csv_lines(export.RAW_COLUMNS, [])) == "device_id,key,time,value,status,interval_end\n"
    assert read_xlsx(b"".join(export.xlsx_chunks(export.RAW_COLUMNS, []))) == [list(export.RAW_COLUMNS)]


def test_a_full_sheet_continues_on_the_next(monkeypatch):
    monkeypatch.setattr(export, "EXCEL_MAX_ROWS", 4)  # header + 3 rows per sheet
    data = b"".join(export.xlsx_chunks(export.RAW_COLUMNS, export.raw_rows(sample_points(), BERLIN)))
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)

    assert workbook.sheetnames == ["telemetry", "telemetry 2", "telemetry 3"]
    sheets = [list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets]
    workbook.close()
    assert [len(rows) for rows in sheets] == [4, 4, 4]
    assert all(rows[0] == ("device_id", "key", "time", "time_utc_offset", "value", "status", "interval_end",
                           "interval_end_utc_offset") for rows in sheets)


def test_the_export_streams_rows_as_it_reads_them(world, session_factory):
    """A stored series exported end to end: rows come from a generator read in batches."""
    device = world.alpha.thermostat.id
    points = [Point(device, "temperature", T0 + timedelta(minutes=i), float(i), BERLIN) for i in range(3000)]
    with system_session(session_factory, reason="test") as db:
        write_points(db.connection(), points)
        db.commit()
    db = bind_scope(session_factory(), AccessScope(tenant_paths=frozenset({world.alpha.customer.path})))
    try:
        source = queries.iter_raw_points(db, [device], None, T0, T0 + timedelta(days=3))
        lines = export.csv_lines(export.RAW_COLUMNS, export.raw_rows(source, BERLIN))
        first = next(lines)  # the first chunk is out before the whole series has been read
        assert first.count("\n") == 501
        rest = "".join(lines)
        chunks = export.xlsx_chunks(export.RAW_COLUMNS, export.raw_rows(
            queries.iter_raw_points(db, [device], None, T0, T0 + timedelta(days=3)), BERLIN))
        rows = read_xlsx(b"".join(chunks))
    finally:
        db.close()
    assert (first + rest).count("\n") == 3001
    assert len(rows) == 3001
    assert rows[-1][4] == pytest.approx(2999.0)  # the value column
