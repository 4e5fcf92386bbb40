"""Resumable, verified downloads for the data recipes (standard library + tqdm only).

:func:`download` fetches a URL (``https://``, ``http://`` or ``file://``) into ``TARGET.part``,
resumes a partial ``.part`` left by an interrupted run with an HTTP ``Range`` request, retries
transient network errors with exponential back-off, shows a progress bar on a terminal, and
moves the file into place only after its digests match the expected ones. A file that does not
match is deleted (never left where a later run would trust it) and :class:`ChecksumError` says
which digest differed from which published value.

pooch and ``huggingface_hub.hf_hub_download`` cover the other cases: pooch does not resume a
partial file, and ``hf_hub_download`` (used for Hugging Face files, which it resumes itself)
only reads the Hub.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Tuple

__all__ = ["ChecksumError", "DownloadError", "download", "file_digests", "verify", "git_blob_sha1"]

USER_AGENT = "bior2-data-recipes"
CHUNK = 1 << 20
_sleep = time.sleep  # tests replace it


class ChecksumError(ValueError):
    """A downloaded file whose digest differs from the published or pinned one."""


class DownloadError(OSError):
    """A download that failed after every retry (the partial file is kept for the next run)."""


class _RangeDone(Exception):
    """The server says the requested range starts at or past the end: the partial is complete."""


def git_blob_sha1(path: Path) -> str:
    """Git's object id of a file (``sha1(b"blob <size>\\0" + content)``): what the Hub lists
    for files that are not stored in LFS."""
    h = hashlib.sha1(f"blob {Path(path).stat().st_size}\0".encode())
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def file_digests(path: Path, algorithms: Iterable[str] = ("sha256",)) -> Dict[str, str]:
    """Hex digests of ``path`` for several algorithms in one read (``git-blob-sha1`` too)."""
    algorithms = list(dict.fromkeys(algorithms))
    out: Dict[str, str] = {}
    if "git-blob-sha1" in algorithms:
        out["git-blob-sha1"] = git_blob_sha1(path)
    hashers = {a: hashlib.new(a) for a in algorithms if a != "git-blob-sha1"}
    if hashers:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(CHUNK), b""):
                for h in hashers.values():
                    h.update(block)
        out.update({a: h.hexdigest() for a, h in hashers.items()})
    return out


def verify(path: Path, expected: Mapping[str, Optional[str]], source: str = "the published value",
           name: Optional[str] = None) -> Dict[str, str]:
    """Check ``path`` against ``expected`` (``{"md5": hex, "sha256": hex, ...}``; ``None`` values
    are skipped). Raises :class:`ChecksumError`; returns the computed digests."""
    wanted = {a: str(v).lower() for a, v in expected.items() if v}
    if not wanted:
        raise ValueError(f"{path}: no checksum to verify against ({source})")
    got = file_digests(path, wanted)
    for algo, want in wanted.items():
        if got[algo] != want:
            raise ChecksumError(f"{name or Path(path).name}: {algo} {got[algo]} does not match {want} ({source})")
    return got


def _open_range(url: str, start: int, timeout: float) -> Tuple[object, Optional[int], bool]:
    """Open ``url`` from byte ``start``: ``(stream, total size or None, resumed?)``."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
        fh = open(path, "rb")
        size = path.stat().st_size
        if start >= size:
            fh.close()
            raise _RangeDone()
        fh.seek(start)
        return fh, size, start > 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if start > 0:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start > 0:
            raise _RangeDone() from None
        raise
    length = response.headers.get("Content-Length")
    if response.status == 206:
        content_range = response.headers.get("Content-Range", "")  # bytes START-END/TOTAL
        total = content_range.rsplit("/", 1)[-1]
        return response, int(total) if total.isdigit() else None, True
    return response, int(length) if length and length.isdigit() else None, False


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code in (408, 425, 429) or exc.code >= 500
    return isinstance(exc, (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException))


def _progress(total: Optional[int], initial: int, name: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a bioR2 dependency
        return None
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                disable=None if sys.stderr.isatty() else True, file=sys.stderr)


def download(url: str, target: Path, *, expected: Optional[Mapping[str, Optional[str]]] = None,
             source: str = "the published value", retries: int = 5, backoff: float = 2.0,
             timeout: float = 60.0) -> Path:
    """Download ``url`` to ``target`` (resuming ``target.part``), verify, move into place.

    ``expected`` maps digest names (``md5``, ``sha256``, ``git-blob-sha1``) to hex values;
    ``source`` names where they come from in error messages. An existing ``target`` is
    verified and reused (deleted if it does not match).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    checks = {k: v for k, v in (expected or {}).items() if v}
    if target.exists():
        if checks:
            try:
                verify(target, checks, source)
            except ChecksumError as exc:
                target.unlink()
                raise ChecksumError(f"{exc}; the existing {target} was deleted: rerun to download it again") from None
        return target
    part = target.with_name(target.name + ".part")
    failures = 0
    while True:
        start = part.stat().st_size if part.exists() else 0
        try:
            try:
                stream, total, resumed = _open_range(url, start, timeout)
            except _RangeDone:
                break
            if start and not resumed:
                print(f"{url}: the server does not resume downloads; starting {part.name} again", file=sys.stderr)
                start = 0
            elif start:
                print(f"resuming {target.name} at {start:,} bytes", file=sys.stderr)
            else:
                print(f"downloading {url}", file=sys.stderr)
            bar = _progress(total, start, target.name)
            try:
                with stream, open(part, "ab" if start else "wb") as out:  # type: ignore[attr-defined]
                    for block in iter(lambda: stream.read(CHUNK), b""):  # type: ignore[attr-defined]
                        out.write(block)
                        if bar is not None:
                            bar.update(len(block))
            finally:
                if bar is not None:
                    bar.close()
            size = part.stat().st_size
            if total is not None and size < total:
                raise http.client.IncompleteRead(b"", total - size)
            break
        except Exception as exc:  # noqa: BLE001 - sorted into retryable or not just below
            if not _retryable(exc):
                raise
            failures += 1
            if failures > retries:
                raise DownloadError(f"{url}: failed after {retries} retries ({type(exc).__name__}: {exc}); "
                                    f"the partial file {part} is kept: rerun to resume") from None
            wait = min(backoff ** failures, 60.0)
            print(f"{url}: {type(exc).__name__}: {exc}; retry {failures}/{retries} in {wait:.0f} s", file=sys.stderr)
            _sleep(wait)
    if checks:
        try:
            verify(part, checks, source, name=target.name)
        except ChecksumError as exc:
            part.unlink()
            raise ChecksumError(f"{exc}; the download was deleted. Rerun to fetch it again; if it differs again, "
                                "the source changed since its checksum was published or pinned") from None
    os.replace(part, target)
    return target
