"""Receiving one uploaded file: a multipart/form-data body streamed to a temporary file.

The body is parsed as it arrives (python-multipart's streaming parser) and the named field's
bytes are written to an anonymous temporary file: the file never sits in memory, whatever
its size. The request gate lets these requests through without reading their body or taking
a slot (gate.STREAMED), so the bounds are here: at most `max_bytes` of body (413, answered
from Content-Length before anything is read when it says more), no pause longer than
`idle_seconds` (408), at most UPLOADS uploads at once per process (429).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from contactdesk.errors import AppError, InvalidParameter

UPLOADS = 4
# Multipart framing around the file (boundaries, part headers, other small fields).
FRAMING = 64 * 1024
MAX_PART_HEADERS = 8 * 1024


class PayloadTooLarge(AppError):
    status_code = 413

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"connection": "close"})


class UploadTimeout(AppError):
    status_code = 408

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"connection": "close"})


class Busy(AppError):
    status_code = 429

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"retry-after": "5"})


@dataclass
class Upload:
    file: IO[bytes]
    size: int
    filename: str | None


class LoopSlots:
    """At most `count` holders at once in this process's serving event loop (a semaphore
    made in the loop that uses it: tests run several loops one after another)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._made: tuple[int, asyncio.Semaphore] | None = None

    def get(self) -> asyncio.Semaphore:
        loop = id(asyncio.get_running_loop())
        if self._made is None or self._made[0] != loop:
            self._made = (loop, asyncio.Semaphore(self.count))
        return self._made[1]


_UPLOAD_SLOTS = LoopSlots(UPLOADS)


@contextlib.asynccontextmanager
async def receive_file(
    request: Request, field: str, max_bytes: int, idle_seconds: float
) -> AsyncIterator[Upload]:
    """The file sent in the form field `field`, for the duration of the block."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidParameter(f"Send the CSV file as multipart/form-data, in the field {field}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + FRAMING:
        raise PayloadTooLarge(_too_large(max_bytes))
    slot = _UPLOAD_SLOTS.get()
    if slot.locked():
        raise Busy("Too many uploads at once on this server: retry in a few seconds")
    async with slot:
        with tempfile.TemporaryFile() as target:
            upload = Upload(target, 0, None)
            await _receive(request, field, boundary, target, upload, max_bytes, idle_seconds)
            target.seek(0)
            yield upload


def _too_large(max_bytes: int) -> str:
    return f"The file is too large (the limit is {max_bytes // (1024 * 1024)} MB)"


class _Parts:
    """The parser's callbacks: the first part named `field` goes to the file."""

    def __init__(self, field: str, target: IO[bytes], upload: Upload, max_bytes: int) -> None:
        self.field = field
        self.target = target
        self.upload = upload
        self.max_bytes = max_bytes
        self.files = 0
        self.in_file = False
        self.header_field = b""
        self.header_value = b""
        self.disposition = b""

    def on_part_begin(self) -> None:
        self.disposition = b""
        self.in_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if self.header_field.lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_field, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self.disposition)
        if params.get(b"name", b"").decode("utf-8", "replace") == self.field:
            self.files += 1
            self.in_file = self.files == 1
            if self.in_file:
                raw = params.get(b"filename")
                self.upload.filename = raw.decode("utf-8", "replace") if raw else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.upload.size += end - start
            if self.upload.size > self.max_bytes:
                raise PayloadTooLarge(_too_large(self.max_bytes))
            self.target.write(data[start:end])


async def _receive(
    request: Request,
    field: str,
    boundary: bytes,
    target: IO[bytes],
    upload: Upload,
    max_bytes: int,
    idle_seconds: float,
) -> None:
    parts = _Parts(field, target, upload, max_bytes)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": parts.on_part_begin,
            "on_header_field": parts.on_header_field,
            "on_header_value": parts.on_header_value,
            "on_header_end": parts.on_header_end,
            "on_headers_finished": parts.on_headers_finished,
            "on_part_data": parts.on_part_data,
        },
        max_header_size=MAX_PART_HEADERS,
    )
    received = 0
    chunks = request.stream().__aiter__()
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(chunks.__anext__(), idle_seconds)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise UploadTimeout(
                    f"The upload stalled (nothing arrived for {idle_seconds:g} s)"
                ) from None
            received += len(chunk)
            if received > max_bytes + FRAMING and upload.size <= max_bytes:
                raise PayloadTooLarge(_too_large(max_bytes))
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise InvalidParameter("The multipart/form-data body is malformed") from None
    except ClientDisconnect:
        raise UploadTimeout("The client left before the upload ended") from None
    if parts.files == 0:
        raise InvalidParameter(f"No file was sent: send the CSV file in the field {field}")
    if parts.files > 1:
        raise InvalidParameter(f"Send one file in the field {field}")
