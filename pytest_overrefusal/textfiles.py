"""Reading a text file a user gave us, safely: a regular file, UTF-8 (a BOM is fine), bounded size or line length,
and a one-line error that names the file and the byte offset of the first bad byte."""
from __future__ import annotations

import codecs
import csv
import reprlib
import stat
from pathlib import Path
from typing import Iterator

from .errors import OverrefusalError

MAX_LINE_BYTES = 16 << 20  # one JSON line (a prompt with its context); past this the file is not what we think
BOM = b"\xef\xbb\xbf"
CHUNK_BYTES = 1 << 20  # first_bad_byte reads this much at a time
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"),
              (codecs.BOM_UTF16_BE, "UTF-16"))
_SHOW = reprlib.Repr()
_SHOW.maxstring, _SHOW.maxother, _SHOW.maxlist, _SHOW.maxdict, _SHOW.maxlevel = 60, 60, 4, 4, 2


def show(value: object, limit: int = 80) -> str:
    """repr() of an untrusted value, bounded however big or deep the value is."""
    try:
        text = _SHOW.repr(value)
    except Exception:  # a repr that fails (e.g. an int past the digit limit) still gets a name
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


def cap(text: str, limit: int = 160) -> str:
    """A message part from elsewhere (a parser's complaint, a manifest's hint): one line, bounded, no control
    characters (an escape sequence would reach the terminal)."""
    text = " ".join(str(text).split())
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


def check_file(path: Path, error: type[OverrefusalError], what: str, max_bytes: int | None = None) -> None:
    """A regular file (not a folder, pipe or device, which could block or never end), within `max_bytes`."""
    try:
        info = path.stat()
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    except ValueError:  # a NUL in the name
        raise error(f"{show(str(path))}: {what} name holds a NUL character; give a plain file name") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: {what} is not a regular file; point at a file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise error(f"{path}: {what} is {info.st_size} bytes, over the {max_bytes} byte limit; is it the right file?")


def read_text(path: Path, error: type[OverrefusalError], what: str, max_bytes: int) -> str:
    """The whole file as text, without a BOM."""
    check_file(path, error, what, max_bytes)
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # grew since stat
        raise error(f"{path}: {what} is over the {max_bytes} byte limit; is it the right file?")
    return decode(data, path, error, what)


def decode(data: bytes, path: Path, error: type[OverrefusalError], what: str, start: int = 0, line: int = 1) -> str:
    """UTF-8 bytes (found at byte `start`, line `line` of the file) -> text; a leading BOM is dropped at start 0."""
    if start == 0:
        _refuse_wide_bom(data, path, error, what)
        if data.startswith(BOM):
            data, start = data[len(BOM):], len(BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = line + data.count(b"\n", 0, exc.start)
        raise _not_utf8(path, error, what, (start + exc.start, data[exc.start], at)) from None
    nul = text.find("\x00")
    if nul >= 0:  # valid UTF-8 but binary, or UTF-16 without a BOM
        offset = start + len(text[:nul].encode("utf-8"))
        at = line + text.count("\n", 0, nul)
        raise error(f"{path}: {what} holds a NUL byte at byte offset {offset}, line {at}; it must be UTF-8 text "
                    f"(is it UTF-16 or binary?)")
    return text


def _refuse_wide_bom(data: bytes, path: Path, error: type[OverrefusalError], what: str) -> None:
    for mark, name in _WIDE_BOMS:
        if data.startswith(mark):
            raise error(f"{path}: {what} is {name} text; it must be UTF-8 (save it as UTF-8)")


def lines(path: Path, error: type[OverrefusalError], what: str) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line, streamed; a line over MAX_LINE_BYTES is an error, not a memory spike."""
    check_file(path, error, what)
    limit = MAX_LINE_BYTES
    try:
        with path.open("rb") as fh:
            offset = 0
            for number in range(1, 1 << 62):
                raw = fh.readline(limit + 1)
                if not raw:
                    return
                if len(raw) > limit:
                    raise error(f"{path}:{number}: line is longer than {limit} bytes; is this a {what}?")
                yield number, decode(raw, path, error, what, offset, number)
                offset += len(raw)
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None


def first_bad_byte(path: Path) -> tuple[int, int, int] | None:
    """(byte offset, byte, line) of the first byte that is not UTF-8 in the file, read in chunks; None if all is
    fine. For readers (csv) that only learn of a bad byte from a decoder deep in a text stream."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    fed = newlines = 0
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(CHUNK_BYTES)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:  # exc.object: the held-back bytes (never a newline) + this chunk
                line = 1 + newlines + exc.object.count(b"\n", 0, exc.start)
                return fed - pending + exc.start, exc.object[exc.start], line
            if not chunk:
                return None
            fed += len(chunk)
            newlines += chunk.count(b"\n")


def not_utf8(path: Path, error: type[OverrefusalError], what: str) -> OverrefusalError:
    """The error for a file a text stream failed to decode, with the offset found by a second look."""
    try:
        found = first_bad_byte(path)
    except OSError:
        found = None
    return _not_utf8(path, error, what, found)


def _not_utf8(path: Path, error: type[OverrefusalError], what: str, found: tuple[int, int, int] | None):
    where = f" (byte 0x{found[1]:02x} at byte offset {found[0]}, line {found[2]})" if found else ""
    return error(f"{path}: {what} is not UTF-8 text{where}; it must be UTF-8: save it as UTF-8")


def csv_dicts(path: Path, error: type[OverrefusalError], what: str) -> Iterator[tuple[int, dict]]:
    """(line number, row) for each CSV row under the header row, streamed; quoting errors, rows with more fields
    than the header, repeated header names, a bad byte or a NUL are one-line errors."""
    check_file(path, error, what)
    reader = None
    try:
        with path.open("rb") as fh:
            _refuse_wide_bom(fh.read(4), path, error, what)
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh, strict=True)
            header = reader.fieldnames or []
            if any("\x00" in h for h in header):
                raise error(f"{path}:1: the header holds a NUL character; it must be UTF-8 text (is it UTF-16 "
                            f"or binary?)")
            repeated = sorted({h for h in header if header.count(h) > 1})
            if repeated:
                raise error(f"{path}:1: the header names column(s) {show(', '.join(repeated))} twice; "
                            f"rename one of them")
            for row in reader:
                line = reader.line_num
                if None in row:
                    raise error(f"{path}:{line}: row has more fields than the header's {len(header)}; "
                                f"quote fields that hold commas")
                if any("\x00" in str(v) for v in row.values()):
                    raise error(f"{path}:{line}: holds a NUL character; it must be UTF-8 text (is it UTF-16 "
                                f"or binary?)")
                yield line, row
    except UnicodeDecodeError:
        raise not_utf8(path, error, what) from None
    except csv.Error as exc:
        line = reader.reader.line_num if reader is not None else 1  # DictReader's own count lags a failed row
        raise error(f"{path}:{line}: not valid CSV ({exc}); check the quoting") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
