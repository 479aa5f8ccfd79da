"""The CSV form of contacts, shared by import and export: columns, cells, and reading a file.

Columns (headers match ignoring case, spaces and underscores): name, first_name, last_name,
email, phone_number, identifier, company (stored as additional_attributes.company_name;
company_name is accepted too), city, country, country_code (additional_attributes), labels,
blocked, and custom_attributes.<key> (the key as written).

Cells:

* an empty cell leaves the field as it is (on a new contact: not set);
* a cell that starts with =, +, -, @, a tab or a carriage return is written with a leading
  apostrophe on export (spreadsheets would run it as a formula), and that apostrophe is taken
  off on import; so is an apostrophe written before another apostrophe;
* labels: split on commas when the cell holds one, else on semicolons (a label may hold a
  semicolon, never a comma); export joins them with commas;
* custom attribute values: a cell that reads as JSON (a number, true, false, null, an array,
  an object, or a string in double quotes) is that value, anything else is the text itself;
  export writes text as it is unless it would read as something else, and other values as
  JSON. A defined attribute of a text type takes the cell's text as it is.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

# One cell: the longest field is far below this (255 characters, 16 KB of attributes).
MAX_FIELD = 128 * 1024
csv.field_size_limit(MAX_FIELD)
MAX_ROWS = 1_048_576
MAX_COLUMNS = 1000

STANDARD = ("name", "first_name", "last_name", "email", "phone_number", "identifier")
ADDITIONAL = {
    "company": "company_name",
    "city": "city",
    "country": "country",
    "country_code": "country_code",
}
COLUMNS = (*STANDARD, *ADDITIONAL, "labels", "blocked")
CUSTOM_PREFIX = "custom_attributes."
_ALIASES = {"companyname": "company"}
_BY_KEY = {name.replace("_", ""): name for name in COLUMNS} | _ALIASES
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
# Defined custom attribute types whose values are text: a cell is taken as it is.
TEXT_TYPES = frozenset({"text", "link", "date", "list"})


class FileRefused(Exception):
    """The file cannot be imported at all (answered 422 before anything is queued)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def column_of(header: str) -> str | None:
    """The column a header cell names, or None. custom_attributes.<key> keeps the key."""
    text = header.strip()
    prefix, dot, key = text.partition(".")
    if dot and prefix.replace(" ", "").replace("_", "").lower() == "customattributes":
        key = key.strip()
        return CUSTOM_PREFIX + key if key else None
    return _BY_KEY.get(text.replace(" ", "").replace("_", "").lower())


@dataclass
class FileShape:
    delimiter: str
    header: list[str]
    columns: list[str | None]
    unknown: list[str]
    rows: int  # data rows


def _lines(stream: IO[bytes]) -> Iterator[str]:
    """The file's lines, decoded (UTF-8, a leading BOM dropped), with their line ends; a NUL
    byte or bytes that are not UTF-8 refuse the file, naming the line."""
    for number, line in enumerate(stream, 1):
        raw = line
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if b"\x00" in raw:
            raise FileRefused(f"Line {number} holds binary data (a NUL byte): send a CSV file")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FileRefused(
                f"Line {number} is not UTF-8 text: save the file as CSV UTF-8"
            ) from None


def _split(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return []


def _delimiter(first_line: str) -> str:
    """Comma or semicolon: the one whose split of the header names more known columns (then
    more cells)."""

    def score(delimiter: str) -> tuple[int, int]:
        cells = _split(first_line, delimiter)
        return sum(column_of(c) is not None for c in cells), len(cells)

    return ";" if score(";") > score(",") else ","


def records(stream: IO[bytes], delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each record, header included; blank lines skipped."""
    lines = _lines(stream)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if "field larger than field limit" in str(error):
                raise FileRefused(
                    f"Line {start} has a field over {MAX_FIELD // 1024} KB: no column takes "
                    "that much"
                ) from None
            raise FileRefused(f"Line {start} is not valid CSV ({error})") from None
        if cells and not (len(cells) == 1 and cells[0] == ""):
            yield start, cells


def _first_line(stream: IO[bytes]) -> str:
    head = stream.readline(MAX_FIELD)
    stream.seek(0)
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    return head.decode("utf-8", errors="replace")


def scan(stream: IO[bytes]) -> FileShape:
    """Read the whole file once and refuse it when it cannot be imported: empty, a header
    only, no known column, a repeated column, binary data, not UTF-8, bad quoting, a ragged
    row, a huge field, too many rows (each naming the line). Rows' values are checked later,
    one by one, by the import."""
    delimiter = _delimiter(_first_line(stream))
    found = records(stream, delimiter)
    try:
        _, header = next(found)
    except StopIteration:
        raise FileRefused("The file is empty: send a header row and at least one row") from None
    if len(header) > MAX_COLUMNS:
        raise FileRefused(f"The header has {len(header)} columns (at most {MAX_COLUMNS})")
    columns = [column_of(cell) for cell in header]
    if not any(columns):
        named = ", ".join(repr(cell) for cell in header[:20])
        raise FileRefused(
            f"No column of the header is one contacts have (found {named}); known columns: "
            f"{', '.join(COLUMNS)}, custom_attributes.<key>"
        )
    seen: set[str] = set()
    for column in columns:
        if column is not None:
            if column in seen:
                raise FileRefused(f"The header names the column {column} twice")
            seen.add(column)
    unknown = [cell for cell, column in zip(header, columns, strict=True) if column is None]
    rows = 0
    width = len(header)
    for line, cells in found:
        if len(cells) != width:
            raise FileRefused(f"Line {line} has {len(cells)} cells where the header has {width}")
        rows += 1
        if rows > MAX_ROWS:
            raise FileRefused(f"The file has more than {MAX_ROWS:,} rows: split it")
    if rows == 0:
        raise FileRefused("The file has a header row but no rows of contacts")
    return FileShape(delimiter, header, columns, unknown, rows)


def data_rows(stream: IO[bytes], shape: FileShape, skip: int) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of each data row after the first `skip` ones."""
    found = records(stream, shape.delimiter)
    next(found, None)  # the header
    for index, record in enumerate(found):
        if index >= skip:
            yield record


# Cells


def unescape(cell: str) -> str:
    """A cell's text: the apostrophe export puts before a formula's first character off."""
    if len(cell) > 1 and cell[0] == "'" and (cell[1] in _FORMULA or cell[1] == "'"):
        return cell[1:]
    return cell


RISKY_FIRST = frozenset(_FORMULA) | {"'"}


def escape(text: str) -> str:
    """A cell that no spreadsheet runs as a formula, and that unescape() reads back."""
    if (
        text
        and text[0] in RISKY_FIRST
        and (
            text[0] in _FORMULA
            or (text[0] == "'" and len(text) > 1 and (text[1] in _FORMULA or text[1] == "'"))
        )
    ):
        return "'" + text
    return text


def custom_value(cell: str, kind: str | None) -> Any:
    """A custom attribute's value from its (unescaped) cell; kind: the definition's type."""
    if kind in TEXT_TYPES:
        if cell.startswith('"'):
            try:
                decoded = orjson.loads(cell)
            except orjson.JSONDecodeError:
                return cell
            return decoded if isinstance(decoded, str) else cell
        return cell
    first = cell[0]
    if first in '"[{tfn-0123456789':
        try:
            return orjson.loads(cell)
        except orjson.JSONDecodeError:
            return cell
    return cell


_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_JSON_WORDS = frozenset({"true", "false", "null"})


def _reads_as_other(text: str) -> bool:
    """Whether custom_value() would read the text as something else than itself."""
    first = text[0]
    if first in "[{":
        return bool(custom_value(text, None) != text)
    return first == '"' or text in _JSON_WORDS or _JSON_NUMBER.fullmatch(text) is not None


def custom_cell(value: Any) -> str:
    """The cell of a custom attribute's value (custom_value() reads it back)."""
    if isinstance(value, str):
        if value and _reads_as_other(value):
            return orjson.dumps(value).decode()
        return value
    return orjson.dumps(value).decode()


def split_labels(cell: str) -> list[str]:
    parts = cell.split(",") if "," in cell else cell.split(";")
    return [part.strip() for part in parts if part.strip()]


def join_labels(labels: list[str]) -> str:
    text = ",".join(labels)
    # One label holding a semicolon: a trailing comma says the cell splits on commas.
    return text + "," if len(labels) == 1 and ";" in text else text


def write_row(cells: list[str], delimiter: str = ",") -> str:
    """One CSV record (CRLF-terminated, as RFC 4180 has it)."""
    return write_rows([cells], delimiter)


def write_rows(rows: Iterable[list[str]], delimiter: str = ",") -> str:
    """CSV records, one writer for all of them."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue()
