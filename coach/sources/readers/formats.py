"""Files people already have: opened (plain, gzip, zip, folder), recognised by their header,
and read in bounded chunks of rows.

Formats (sources in firmware_notes/file_formats.md):
  plain          t,ax,ay,az[,gx,gy,gz][,label]          t in s (any unit, see timebase); g or m/s^2
  phyphox        "Time (s)","Acceleration x (m/s^2)",... acceleration with g, m/s^2
  sensorlogger   time,seconds_elapsed,z,y,x             time in ns since 1970, m/s^2
                 TotalAcceleration.csv (with g), or Accelerometer.csv (without g) + Gravity.csv
  polar          Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg]   (Polar Sensor Logger)
"""
from __future__ import annotations

import csv
import gzip
import io
import math
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np

from coach.errors import CoachError

CHUNK = 1 << 20           # bytes of text per chunk (and the longest line accepted)
MAX_PIPE_BYTES = 1 << 30   # a recording read from a pipe is held whole: at most 1 GB
SL_TOTAL, SL_ACC, SL_GRAV = "totalacceleration.csv", "accelerometer.csv", "gravity.csv"


@dataclass
class Format:
    kind: str                          # plain, phyphox, sensorlogger, polar
    sep: str
    ncol: int                          # fields per row (after dropping a leading text field)
    t_col: int
    acc_cols: tuple[int, int, int]
    label_col: int | None = None
    time_unit: str = "auto"
    acc_units: str = "auto"            # auto (g or m/s^2 from gravity), m/s2, mg
    gravity: bool = True               # the acceleration includes gravity
    strip_first: bool = False          # a leading non-numeric field (Polar's phone time)
    decimal_comma: bool = False
    header: list[str] = field(default_factory=list)


@dataclass
class Rows:
    t: np.ndarray                      # raw time values as in the file
    acc: np.ndarray                    # (n, 3) in the file's units
    labels: list[str] | None
    lines: np.ndarray                  # line number of each row (for messages)


# ------------------------------------------------------------------------------ opening
def _magic(p: Path) -> bytes:
    try:
        with open(p, "rb") as f:
            return f.read(4)
    except OSError as e:
        raise CoachError(f"{p}: cannot read ({e.strerror})") from None


def open_sources(path: str | Path) -> tuple[str, list[tuple[str, Callable[[], BinaryIO]]]]:
    """(display name, [(member name, opener)]): one stream, or Sensor Logger's two (acc, gravity)."""
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise CoachError(f"{p}: no such file")
    if p.is_dir():
        files = {f.name.lower(): f for f in p.iterdir() if f.is_file()}
        picked = _pick_sensorlogger(list(files))
        if picked is None:
            raise CoachError(f"{p}: is a directory without a recording (expected a Sensor Logger "
                             "export with TotalAcceleration.csv, or Accelerometer.csv and Gravity.csv)")
        return name, [(files[m].name, _file_opener(files[m])) for m in picked]
    if not p.is_file():
        # a pipe (`<(...)`, /dev/stdin, a FIFO) can be read once: take it whole, then as a file
        # (binary junk is refused in its first megabyte, and no pipe may fill memory: /dev/zero)
        parts: list[bytes] = []
        size = 0
        try:
            with open(p, "rb") as f:
                while block := f.read(CHUNK):
                    if not parts and block[:2] != b"\x1f\x8b" and b"\x00" in block:
                        raise CoachError(f"{name}: not a text CSV file (binary data)")
                    size += len(block)
                    if size > MAX_PIPE_BYTES:
                        raise CoachError(f"{name}: more than {MAX_PIPE_BYTES >> 20} MB from a pipe; "
                                         "save it to a file first")
                    parts.append(block)
        except OSError as e:
            raise CoachError(f"{p}: cannot read ({e.strerror})") from None
        data = b"".join(parts)
        if data[:2] == b"\x1f\x8b":
            return name, [(p.name, lambda: cast(BinaryIO, gzip.open(io.BytesIO(data), "rb")))]
        return name, [(p.name, lambda: cast(BinaryIO, io.BytesIO(data)))]
    magic = _magic(p)
    if magic[:2] == b"\x1f\x8b":
        return name, [(p.name, lambda: cast(BinaryIO, gzip.open(p, "rb")))]
    if magic in (b"PK\x03\x04", b"PK\x05\x06"):      # a zip (an empty one is only its end record)
        return name, _zip_members(p)
    if p.name.lower() == SL_ACC and (p.parent / "Gravity.csv").exists():
        return name, [(p.name, _file_opener(p)), ("Gravity.csv", _file_opener(p.parent / "Gravity.csv"))]
    return name, [(p.name, _file_opener(p))]


def _file_opener(p: Path) -> Callable[[], BinaryIO]:
    def op() -> BinaryIO:
        try:
            return open(p, "rb")
        except OSError as e:
            raise CoachError(f"{p}: cannot read ({e.strerror})") from None
    return op


def _pick_sensorlogger(names: list[str]) -> list[str] | None:
    low = [n.lower().rsplit("/", 1)[-1] for n in names]
    if SL_TOTAL in low:
        return [names[low.index(SL_TOTAL)]]
    if SL_ACC in low and SL_GRAV in low:
        return [names[low.index(SL_ACC)], names[low.index(SL_GRAV)]]
    return None


def _zip_members(p: Path) -> list[tuple[str, Callable[[], BinaryIO]]]:
    try:
        zf = zipfile.ZipFile(p)
        names = [i.filename for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise CoachError(f"{p}: not a readable zip file ({e})") from None
    picked = _pick_sensorlogger(names)
    if picked is None:
        csvs = [n for n in names if n.lower().endswith((".csv", ".txt"))]
        raw = [n for n in csvs if n.lower().rsplit("/", 1)[-1] == "raw data.csv"]   # phyphox
        if raw:
            picked = raw[:1]
        elif len(csvs) == 1:
            picked = csvs
        else:
            raise CoachError(f"{p}: zip file without a recording (expected a Sensor Logger export "
                             "with TotalAcceleration.csv, or Accelerometer.csv and Gravity.csv, "
                             "or a single CSV file)")

    def opener(member: str) -> Callable[[], BinaryIO]:
        return lambda: zf.open(member)   # type: ignore[return-value]
    return [(m.rsplit("/", 1)[-1], opener(m)) for m in picked]


# ------------------------------------------------------------------------------ text chunks
def text_chunks(f: BinaryIO, name: str) -> Iterator[tuple[int, str]]:
    """(number of the chunk's first line, text ending at a line break), ~CHUNK bytes each.

    Binary data (a NUL byte, bytes that are not UTF-8, no line break in a megabyte) is refused
    in the chunk where it starts, so junk is found within the first megabyte."""
    line = 1
    carry = b""
    first = True
    while True:
        try:
            block = f.read(CHUNK)
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile) as e:
            raise CoachError(f"{name}: cannot read (corrupt compressed data: {e})") from None
        eof = not block
        nul = block.find(b"\x00")
        if nul >= 0:
            at = line + carry.count(b"\n") + block[:nul].count(b"\n")
            raise CoachError(f"{name}: not a text CSV file (binary data at line {at})")
        buf = carry + block
        if not buf:
            return
        if eof:
            cut = len(buf)
        else:
            cut = buf.rfind(b"\n") + 1
            if cut == 0:
                if len(buf) >= CHUNK:
                    raise CoachError(f"{name}: line {line} is longer than 1 MB: not a CSV file")
                carry = buf
                continue
        piece, carry = buf[:cut], buf[cut:]
        try:
            text = piece.decode("utf-8-sig" if first else "utf-8")
        except UnicodeDecodeError as e:
            at = line + piece[:e.start].count(b"\n")
            raise CoachError(f"{name}: not a text CSV file (not UTF-8 at line {at})") from None
        first = False
        yield line, text
        line += piece.count(b"\n")
        if eof:
            return


# ------------------------------------------------------------------------------ headers
def _clean(h: str) -> str:
    return h.strip().strip('"').strip("'").strip().lower().replace("²", "^2").replace("m/s2", "m/s^2")


def _split(line: str, sep: str) -> list[str]:
    """One line's fields: as CSV where it is quoted (a quoted field may hold the separator);
    csv.Error where csv cannot read it (a field past its limit, a bare CR)."""
    if '"' not in line:
        return line.split(sep)
    return next(csv.reader([line], delimiter=sep, skipinitialspace=True), [])


def _fields(line: str, sep: str) -> list[str]:
    """A header line's fields (a quoted name may hold the separator; split plainly where csv
    cannot read it: the header's check then says what is missing)."""
    try:
        return _split(line, sep)
    except csv.Error:
        return line.split(sep)


def sniff(name: str, member: str, header_line: str, first_row: str | None,
          paired: bool = False) -> Format:
    """The format of a file from its header line (and the first data row, for decimal commas)."""
    counts = {s: header_line.count(s) for s in (",", ";", "\t")}
    sep = max(counts, key=lambda s: counts[s]) if any(counts.values()) else ","
    # the most frequent separator, unless another one splits the header into a format's columns
    # (a column named "note (a, b, c)" in a tab-separated file)
    for s in sorted((s for s in counts if counts[s]), key=lambda s: -counts[s]):
        hs = {_clean(x) for x in _fields(header_line.rstrip("\r\n"), s)}
        if ({"t", "ax", "ay", "az"} <= hs or "time (s)" in hs or {"time", "x", "y", "z"} <= hs
                or "phone timestamp" in hs):
            sep = s
            break
    raw = _fields(header_line.rstrip("\r\n"), sep)
    while len(raw) > 1 and not raw[-1].strip():
        raw.pop()                                  # a trailing separator
    h = [_clean(x) for x in raw]
    dec = bool(first_row) and sep != "," and "," in (first_row or "")
    if "t" in h or {"ax", "ay", "az"} & set(h):
        missing = [c for c in ("t", "ax", "ay", "az") if c not in h]
        if missing:
            raise CoachError(f"{name}: missing column(s) {', '.join(missing)} "
                             "(header must include t,ax,ay,az)")
        twice = [c for c in ("t", "ax", "ay", "az", "label") if h.count(c) > 1]
        if twice:
            # (the first had been read and the other ignored, whichever held the data)
            raise CoachError(f"{name}: column {twice[0]!r} appears {h.count(twice[0])} times in the "
                             "header: keep one")
        return Format("plain", sep, len(h), h.index("t"), (h.index("ax"), h.index("ay"), h.index("az")),
                      label_col=h.index("label") if "label" in h else None, decimal_comma=dec, header=h)
    if any(x.startswith("linear acceleration") for x in h):
        raise CoachError(f"{name}: a phyphox 'Linear Acceleration' export has no gravity, which the "
                         "detector needs: record and export phyphox's 'Acceleration with g' instead")
    if "time (s)" in h and any(x.startswith("acceleration x") for x in h):
        cols = []
        for ax in "xyz":
            c = next((i for i, x in enumerate(h) if x.startswith(f"acceleration {ax}")), None)
            if c is None:
                raise CoachError(f"{name}: phyphox export without 'Acceleration {ax}'")
            cols.append(c)
        units = "m/s2" if "(m/s^2)" in h[cols[0]] else ("g" if "(g)" in h[cols[0]] else "auto")
        return Format("phyphox", sep, len(h), h.index("time (s)"), (cols[0], cols[1], cols[2]), acc_units=units,
                      decimal_comma=dec, header=h)
    if {"time", "x", "y", "z"} <= set(h) and ("seconds_elapsed" in h or member.lower() in
                                              (SL_TOTAL, SL_ACC, SL_GRAV)):
        m = member.lower()
        if m == SL_ACC and not paired:
            raise CoachError(f"{name}: Sensor Logger's Accelerometer.csv has no gravity, which the "
                             "detector needs: analyze the whole export (its folder or zip, with "
                             "Gravity.csv) or TotalAcceleration.csv")
        if m == SL_GRAV and not paired:
            raise CoachError(f"{name}: Sensor Logger's Gravity.csv holds gravity only: analyze the "
                             "whole export (its folder or zip) or TotalAcceleration.csv")
        return Format("sensorlogger", sep, len(h), h.index("time"),
                      (h.index("x"), h.index("y"), h.index("z")), acc_units="m/s2", header=h)
    if h and h[0] == "phone timestamp" and any(x.startswith("sensor timestamp") for x in h):
        hh = h[1:]
        try:
            ts = next(i for i, x in enumerate(hh) if x.startswith("sensor timestamp"))
            pc = [next(i for i, x in enumerate(hh) if x.split(" ")[0] == ax) for ax in "xyz"]
        except StopIteration:
            raise CoachError(f"{name}: a Polar Sensor Logger file without X, Y, Z columns "
                             "(use the ACC file)") from None
        unit_s = hh[pc[0]]
        if "[mg]" not in unit_s and "[g]" not in unit_s:
            raise CoachError(f"{name}: a Polar Sensor Logger file that is not acceleration "
                             f"({raw[pc[0] + 1].strip()}): use the ACC file")
        return Format("polar", sep, len(hh), ts, (pc[0], pc[1], pc[2]), time_unit="ns",
                      acc_units="mg" if "[mg]" in unit_s else "g", strip_first=True,
                      decimal_comma=dec, header=hh)
    shown = header_line.strip()[:60]
    raise CoachError(f"{name}: unrecognised header {shown!r}: expected t,ax,ay,az or a phyphox, "
                     "Sensor Logger or Polar Sensor Logger export")


# ------------------------------------------------------------------------------ rows
_TRAIL = re.compile(r"[;, \t\r]+$", re.M)
_FIRST = re.compile(r"^[^;\n]*;", re.M)


def parse_phone_time(s: str) -> datetime | None:
    """Polar Sensor Logger's phone timestamp: ISO date-time (local) or epoch milliseconds."""
    s = s.strip().strip('"')
    try:
        v = float(s)
        if 9.46e11 <= v <= 4.1e12:
            return datetime.fromtimestamp(v / 1000).astimezone()
        return None
    except ValueError:
        pass
    try:
        d = datetime.fromisoformat(s.replace(" ", "T", 1))
    except ValueError:
        return None
    return d if d.tzinfo else d.astimezone()


class RowParser:
    """Parses chunks of data lines of one format into Rows."""

    def __init__(self, fmt: Format, name: str, need_labels: bool = False) -> None:
        self.fmt = fmt
        self.name = name
        if need_labels and fmt.label_col is None:
            raise CoachError(f"{name}: missing column label (training needs t,ax,ay,az,label)")
        self.first_field: str | None = None     # Polar: the first row's phone timestamp

    def parse(self, text: str, line0: int) -> Rows:
        f = self.fmt
        if f.strip_first:
            if self.first_field is None:
                m = _FIRST.search(text)
                if m:
                    self.first_field = m.group(0)[:-1]
            text = _FIRST.sub("", text)
        if f.kind != "plain":
            text = _TRAIL.sub("", text)
        fast = None
        if f.label_col is None and '"' not in text:
            # (quoted fields are read as CSV by the strict reader: with the quotes stripped
            # first, '"0,3"' in a row short of a field had filled it, and the values shifted)
            one = text
            if f.decimal_comma:
                one = one.replace(",", ".")
            if f.sep != ",":
                one = one.replace(f.sep, ",")
            fast = _fast(one, f.ncol)
        if fast is not None:
            arr = fast
            lines = line0 + np.arange(len(arr))
            labels = None
        else:
            arr, labels, lines = self._strict(text, line0)
        t = arr[:, f.t_col]
        acc = arr[:, list(f.acc_cols)]
        return Rows(t, acc, labels, lines)

    def _strict(self, text: str, line0: int) -> tuple[np.ndarray, list[str] | None, np.ndarray]:
        """Line by line: slower, but names the line and field that is wrong. Fields are split
        as CSV (a quoted field may hold the separator); columns the reader does not use may
        hold anything (a note, a device name), and a row may end in empty fields (trailing
        separators, as spreadsheets export)."""
        f = self.fmt
        rows: list[list[float]] = []
        labels: list[str] | None = [] if f.label_col is not None else None
        lines: list[int] = []
        used = [f.t_col, *f.acc_cols]
        names = f.header if len(f.header) == f.ncol else None
        for k, ln in enumerate(text.split("\n")):
            ln = ln.rstrip("\r")
            if not ln.strip():
                continue
            no = line0 + k
            try:
                parts = _split(ln, f.sep)
            except csv.Error as e:
                raise CoachError(f"{self.name}: line {no}: not a CSV row ({e})") from None
            while len(parts) > f.ncol and not parts[-1].strip():
                parts.pop()                 # trailing separators (as the header's are dropped)
            if len(parts) != f.ncol:
                raise CoachError(f"{self.name}: line {no}: expected {f.ncol} fields, got {len(parts)}")
            vals = [math.nan] * f.ncol
            for i in used:
                # (outside a comma-separated file a comma in a number is a decimal comma, also
                # where the first row, which decided the format, held none)
                x = parts[i].strip().strip('"')
                x = x.replace(",", ".") if f.decimal_comma or f.sep != "," else x
                try:
                    vals[i] = float(x)
                except ValueError:
                    col = f" in column {names[i]!r}" if names else ""
                    raise CoachError(f"{self.name}: line {no}: non-numeric value "
                                     f"{parts[i].strip()[:20]!r}{col}") from None
            if labels is not None:
                labels.append(parts[f.label_col].strip().lower())   # type: ignore[index]
            rows.append(vals)
            lines.append(no)
        arr = np.array(rows, dtype=np.float64).reshape(len(rows), f.ncol)
        return arr, labels, np.array(lines, dtype=np.int64)


def _fast(text: str, ncol: int) -> np.ndarray | None:
    """All-numeric rows of ncol fields each in one C pass; None for anything irregular (the
    strict reader then finds and names the problem). Each row's fields are counted: a row short
    of one and a later row with one more had passed a count of the whole chunk's separators,
    and the values had shifted from row to row."""
    body = text.replace("\r", "").rstrip()
    if not body:
        return np.zeros((0, ncol))
    if "\n\n" in body:
        return None
    nrows = body.count("\n") + 1
    if body.count(",") != nrows * (ncol - 1):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            arr = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, comments=None,
                             quotechar=None, ndmin=2)
    except (ValueError, UserWarning):
        return None
    if arr.shape != (nrows, ncol):
        return None
    return arr


def header_and_rows(opener: Callable[[], BinaryIO], name: str, member: str,
                    need_labels: bool = False, paired: bool = False
                    ) -> tuple[Format, RowParser, Iterator[Rows]]:
    """Open one stream: its format (from the header) and an iterator of parsed row chunks."""
    try:
        f = opener()
    except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as e:
        raise CoachError(f"{name}: cannot read {member} ({e})") from None
    chunks = text_chunks(f, name)
    header = None
    first_text = ""
    line0 = 1
    for line0, text in chunks:
        body = text.lstrip("\r\n\t ")
        if body:
            skipped = text[:len(text) - len(body)].count("\n")
            nl = body.find("\n")
            header = body if nl < 0 else body[:nl]
            first_text = "" if nl < 0 else body[nl + 1:]
            line0 = line0 + skipped + 1
            break
    if header is None:
        f.close()
        raise CoachError(f"{name}: empty file")
    first_row = next((ln for ln in first_text.split("\n") if ln.strip()), None)
    fmt = sniff(name, member, header, first_row, paired)
    parser = RowParser(fmt, name, need_labels)

    def rows() -> Iterator[Rows]:
        try:
            if first_text.strip():
                yield parser.parse(first_text, line0)
            for ln0, text in chunks:
                yield parser.parse(text, ln0)
        finally:
            f.close()
    return fmt, parser, rows()


__all__ = ["Format", "Rows", "RowParser", "open_sources", "header_and_rows", "parse_phone_time",
           "text_chunks"]
