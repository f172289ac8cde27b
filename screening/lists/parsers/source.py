"""Opening list files safely: transparent gzip, a hard size limit, clear errors."""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import ListParseError

#: No real list comes near this (the full SDN_ADVANCED.XML is ~100 MB); anything larger is
#: refused before parsing so a hostile or broken download cannot exhaust memory or disk.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class LimitedReader(io.RawIOBase):
    """Read-only stream that refuses to deliver more than `limit` bytes.

    Used on top of gzip so a small compressed file cannot expand past the limit.
    """

    def __init__(self, raw: BinaryIO, limit: int, name: str) -> None:
        self._raw = raw
        self._limit = limit
        self._count = 0
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        try:
            data = self._raw.read(len(buffer))
        except (EOFError, gzip.BadGzipFile, OSError) as exc:
            raise ListParseError(
                self._name, "", f"compressed file is corrupt or truncated ({exc})"
            ) from None
        n = len(data)
        self._count += n
        if self._count > self._limit:
            raise ListParseError(
                self._name,
                f"byte {self._limit}",
                f"file exceeds the size limit of {self._limit:,} bytes",
            )
        buffer[:n] = data
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def display_name(path: str | os.PathLike[str]) -> str:
    """The name used in error messages: the file name with its parent folder."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def open_limited(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> BinaryIO:
    """Open `path` for binary reading (gunzipping `.gz`), refusing empty or oversized files."""
    name = display_name(path)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ListParseError(name, "", f"cannot read file ({exc.strerror})") from exc
    if size == 0:
        raise ListParseError(name, "", "file is empty")
    if size > max_bytes:
        raise ListParseError(
            name, "", f"file is {size:,} bytes, over the size limit of {max_bytes:,}"
        )
    raw: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by the caller via the wrapper
    if str(path).endswith(".gz"):
        raw = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    return io.BufferedReader(LimitedReader(raw, max_bytes, name), buffer_size=1 << 16)  # type: ignore[return-value]


def iter_text_lines(
    path: str | os.PathLike[str], *, encodings: tuple[str, ...], max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[str]:
    """Yield decoded lines (line endings kept) of a text list file.

    The first encoding that decodes the whole first non-ASCII line wins for the file, so a
    cp1252 file given where UTF-8 is expected (or the reverse) fails on the exact line.
    """
    name = display_name(path)
    chosen: str | None = None
    with open_limited(path, max_bytes=max_bytes) as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
                chosen = "utf-8"
            if chosen is None and not raw.isascii():
                for enc in encodings:
                    try:
                        raw.decode(enc)
                    except UnicodeDecodeError:
                        continue
                    chosen = enc
                    break
            enc = chosen or "ascii"
            try:
                yield raw.decode(enc)
            except UnicodeDecodeError as exc:
                expected = " or ".join(encodings)
                raise ListParseError(
                    name,
                    f"line {lineno}",
                    f"bytes {raw[exc.start : exc.end]!r} at column {exc.start + 1} are not valid "
                    f"{expected} (wrong encoding?)",
                ) from None
