"""``dir://`` index files: one ``<label> SP <url> SP <size> LF`` line per task output.

The master writes them (``.disco/<stage>-<taskid>-<micros>.results`` in the job home); the
next stage reads them. Parsing is on bytes; the caller gunzips first when the URL ends in
``.gz`` (:func:`is_gzip_index`), as the original does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from discoworker.domain.inputs import (
    InputLabel,
    http_url,
    localize,
    url_host,
    url_path,
    url_scheme,
)
from discoworker.errors import IndexFileError

# Plain ASCII decimal: the original's int() also took '1_000' and non-ASCII digits, which no
# writer produces; we refuse them rather than guess.
_INT = re.compile(r"[+-]?[0-9]+\Z")


@attrs.frozen(order=True)
class IndexEntry:
    """One line of an index file; ordered as the original sorts lines (label, url, size)."""

    label: int
    url: str
    size: int

    def to_line(self) -> str:
        """The line as the master writes it, newline included."""
        return f"{self.label} {self.url} {self.size}\n"


def is_gzip_index(url: str) -> bool:
    """True when the index at ``url`` is gzipped: the original decides by the ``.gz`` suffix."""
    return url.endswith(".gz")


def _field_int(text: str, what: str, lineno: int, url: str) -> int:
    if not _INT.match(text):
        raise IndexFileError(f"index line {lineno}: {what} is not an integer: {text!r}", url)
    try:
        return int(text)
    except ValueError:
        # Past Python's int_max_str_digits (4300): no size or label is that long.
        raise IndexFileError(
            f"index line {lineno}: {what} has {len(text)} characters, too long for an integer",
            url,
        ) from None


def read_index(data: bytes, url: str) -> list[IndexEntry]:
    """The entries of the index file at ``url`` given its bytes: gunzipped first when
    :func:`is_gzip_index` says it is gzipped."""
    if is_gzip_index(url):
        import gzip

        data = gzip.decompress(data)
    return parse_index(data, url)


def parse_index(data: bytes, url: str) -> list[IndexEntry]:
    """The entries of an (uncompressed) index file, in file order.

    Like the original: lines split on LF, fields on any whitespace (so CRLF and tabs pass),
    a last line without LF counts, labels may be negative and sizes big. A blank line, a
    wrong number of fields, a non-integer or non-UTF-8 line raise IndexFileError naming
    ``url`` and the 1-based line number (fatal: the original raised ValueError).
    """
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        # The LF that ends the last line does not start another one.
        lines.pop()
    entries: list[IndexEntry] = []
    for lineno, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            hint = " (a gzipped index without .gz?)" if data[:2] == b"\x1f\x8b" else ""
            raise IndexFileError(f"index line {lineno} is not UTF-8{hint}: {e}", url) from None
        fields = text.split()
        if len(fields) != 3:
            what = "is blank" if not fields else f"has {len(fields)} fields"
            raise IndexFileError(
                f"index line {lineno} {what}, expected '<label> <url> <size>'", url
            )
        label_text, entry_url, size_text = fields
        label = _field_int(label_text, "label", lineno, url)
        size = _field_int(size_text, "size", lineno, url)
        entries.append(IndexEntry(label, entry_url, size))
    return entries


def format_index(entries: Iterable[IndexEntry]) -> bytes:
    """The bytes of an index file, one line per entry; ValueError for a URL it cannot hold.

    A URL with whitespace would break the line format (the real master's ``raw://`` with
    spaces bug), so it is refused rather than written.
    """
    out: list[str] = []
    for entry in entries:
        if not entry.url or any(c.isspace() for c in entry.url):
            raise ValueError(f"index URL must be non-empty without whitespace: {entry.url!r}")
        out.append(entry.to_line())
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"index URL is not encodable as UTF-8: {e}") from None


def expand_dir(entries: Iterable[IndexEntry], label: InputLabel) -> list[IndexEntry]:
    """The lines an input of ``label`` reads from an index: sorted, kept when labels match.

    ``"all"`` keeps every line (the ``group_node`` / ``group_all`` inputs).
    """
    return [e for e in sorted(entries) if label in ("all", e.label)]


def dir_url_to_path(url: str, disco_data: str, host: str) -> str | None:
    """The local file of ``dir://<host>/disco/<rest>``: ``<disco_data>/<rest>``.

    None when the index lives on another host (read it over HTTP: :func:`dir_url_to_http`);
    DataError for a path that would leave ``disco_data``.
    """
    if url_scheme(url) != "dir":
        raise ValueError(f"not a dir:// URL: {url!r}")
    if not host or url_host(url) != host:
        return None
    path = url_path(url)
    if not path.startswith("disco/"):
        return None
    # ddfs_data plays no part: the master writes index files in job homes only.
    return localize(path, disco_data=disco_data, ddfs_data="", url=url)


def dir_url_to_http(url: str, disco_port: int) -> str:
    """Where the index of ``dir://host/path`` is served: ``http://host:disco_port/path``."""
    if url_scheme(url) != "dir":
        raise ValueError(f"not a dir:// URL: {url!r}")
    return http_url(url, disco_port)
