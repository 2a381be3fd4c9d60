"""Read one source's files as they are: every line becomes a raw row, readable or not.

Values stay text; `_file`, `_line` and `_drop` (the delivery day) say where a row came from, `_error`
why it could not be read (it is quarantined by staging, never dropped). A file identical to one
already loaded (on any day) is skipped and logged, so a drop delivered twice does not duplicate rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from pipeline.config import Source, drop_day

META_COLUMNS = ["_file", "_line", "_error", "_raw", "_drop"]
REFUSED_FILE_REASON = "file lacks mapped column(s)"


@dataclass
class FileLoad:
    file: str
    sha256: str
    drop: str = ""
    rows: int = 0
    unreadable: int = 0
    status: str = "loaded"  # loaded | duplicate of <file> | missing columns ...


@dataclass
class Extract:
    rows: pd.DataFrame
    files: list[FileLoad] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _has_bad_bytes(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _decode(data: bytes, encoding: str) -> str:
    # surrogateescape keeps undecodable bytes visible so the rows holding them can be quarantined.
    text = data.decode(encoding, errors="surrogateescape")
    return text[1:] if text.startswith("\ufeff") else text


def _flatten(obj: dict, prefix: str = "") -> dict[str, str | None]:
    flat: dict[str, str | None] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif value is None:
            flat[name] = None
        elif isinstance(value, bool):
            flat[name] = "true" if value else "false"
        elif isinstance(value, list):
            flat[name] = json.dumps(value, ensure_ascii=False)
        else:
            flat[name] = str(value)
    return flat


def _bad_row(file: str, line: int, error: str, raw: str) -> dict:
    # Undecodable bytes are kept visible as \xNN escapes (the surrogates themselves cannot be stored).
    shown = raw[:2000].encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return {"_file": file, "_line": line, "_error": error, "_raw": shown}


def _read_csv(text: str, source: Source, file: str) -> tuple[list[dict], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=source.delimiter)
    header = next(reader, None)
    if header is None:
        return [], []
    header = [h.strip() for h in header]
    rows, start = [], reader.line_num + 1
    for values in reader:
        line, end = start, reader.line_num
        start = end + 1
        if not values or values == [""]:
            continue
        raw = source.delimiter.join(values)
        if len(values) != len(header):
            rows.append(_bad_row(file, line, f"{len(values)} fields where the header has {len(header)}", raw))
        elif _has_bad_bytes(raw):
            rows.append(_bad_row(file, line, f"bytes not valid in declared encoding {source.encoding}", raw))
        else:
            row = {h: (v if v != "" else None) for h, v in zip(header, values)}
            rows.append({**row, "_file": file, "_line": line, "_error": None, "_raw": None})
    return rows, header


def _read_jsonl(text: str, source: Source, file: str) -> tuple[list[dict], list[str]]:
    rows, keys = [], {}
    for line, content in enumerate(text.splitlines(), 1):
        if not content.strip():
            continue
        if _has_bad_bytes(content):
            rows.append(_bad_row(file, line, f"bytes not valid in declared encoding {source.encoding}", content))
            continue
        try:
            obj = json.loads(content)
        except json.JSONDecodeError as exc:
            rows.append(_bad_row(file, line, f"not valid JSON ({exc.msg} at column {exc.colno})", content))
            continue
        if not isinstance(obj, dict):
            rows.append(_bad_row(file, line, "JSON line is not an object", content))
            continue
        flat = _flatten(obj)
        keys.update(dict.fromkeys(flat))
        rows.append({**flat, "_file": file, "_line": line, "_error": None, "_raw": None})
    return rows, list(keys)


def _read_parquet(path: Path, file: str) -> tuple[list[dict], list[str]]:
    table = pq.read_table(path)
    frame = table.to_pandas().astype("string").astype(object).where(lambda f: f.notna(), None)
    rows = frame.to_dict("records")
    for i, row in enumerate(rows, 1):
        row.update({"_file": file, "_line": i, "_error": None, "_raw": None})
    return rows, list(frame.columns)


def list_files(source: Source, raw_dir: Path, day: str | None = None) -> list[Path]:
    """The source's files under raw_dir (of one drop day if given), oldest drop first."""
    files = sorted(p for p in raw_dir.glob(source.files) if p.is_file())
    return [p for p in files if day is None or drop_day(p, raw_dir) == day]


def read_source(source: Source, raw_dir: Path, day: str | None = None,
                loaded_elsewhere: dict[str, str] | None = None) -> Extract:
    """All rows of one source's files (of one drop day if given), as text, with file/line and any read
    error. `loaded_elsewhere` maps the sha256 of files already loaded from other days to their names."""
    all_rows: list[dict] = []
    loads: list[FileLoad] = []
    warnings: list[str] = []
    seen: dict[str, str] = dict(loaded_elsewhere or {})
    required = source.mapped_columns
    for path in list_files(source, raw_dir, day):
        file = str(path.relative_to(raw_dir))
        data = path.read_bytes()
        load = FileLoad(file=file, sha256=hashlib.sha256(data).hexdigest(), drop=drop_day(path, raw_dir))
        loads.append(load)
        if load.sha256 in seen:
            load.status = f"duplicate of {seen[load.sha256]}"
            warnings.append(f"{file}: same content as {seen[load.sha256]}, skipped")
            continue
        seen[load.sha256] = file
        try:
            if source.format == "parquet":
                rows, columns = _read_parquet(path, file)
            else:
                text = _decode(data, source.encoding)
                reader = _read_csv if source.format == "csv" else _read_jsonl
                rows, columns = reader(text, source, file)
        except Exception as exc:  # a file that cannot be opened at all: one quarantine row says why
            rows, columns = [_bad_row(file, 0, f"unreadable {source.format} file ({exc})", "")], required
        # CSV and Parquet declare their columns; JSON lines may omit null keys, so only the id is required.
        expected = required if source.format != "jsonl" else [source.record_id]
        missing = [c for c in expected if c not in columns]
        if missing and rows:
            load.status = f"missing columns {missing}"
            warnings.append(f"{file}: lacks mapped column(s) {missing}; its rows are quarantined")
            for row in rows:
                row["_error"] = row["_error"] or f"{REFUSED_FILE_REASON} {missing}"
        for row in rows:
            row["_drop"] = load.drop
        load.rows = len(rows)
        load.unreadable = sum(1 for r in rows if r["_error"])
        all_rows.extend(rows)
    frame = pd.DataFrame.from_records(all_rows) if all_rows else pd.DataFrame(columns=META_COLUMNS)
    for col in [*required, *META_COLUMNS]:
        if col not in frame.columns:
            frame[col] = None
    data_cols = [c for c in frame.columns if c not in META_COLUMNS]
    frame = frame[[*data_cols, *META_COLUMNS]]
    frame[data_cols] = frame[data_cols].astype(object)
    frame["_line"] = frame["_line"].astype("int64")
    return Extract(rows=frame, files=loads, warnings=warnings)
