"""Where an image comes from: a local path (the stick's images/) or any static HTTP server.

HTTP reads use Range requests; a connection that drops mid-chunk is resumed from the last
byte received; each worker thread has its own connection (requests.Session) so several
chunks are in flight. An optional cache directory keeps what was fetched (manifest + a
sparse data file), so an interrupted download restarts where it stopped and a finished one
is a complete local image.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urljoin, urlsplit

from appliance.errors import network_reason, os_reason
from appliance.output import looks_like_json
from erasure.text import Msg

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

READ_BLOCK = 64 * 1024  # small reads: bytes received before a cut are kept


class SourceError(Exception):
    def __init__(self, message: Msg):
        super().__init__(message)
        self.message = message


@dataclass
class SourceStats:
    bytes_fetched: int = 0
    requests: int = 0
    resumes: int = 0  # a transfer that broke off and was continued from the last byte
    retries: int = 0  # a request that failed before any byte and was sent again
    cache_hits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)

    def to_dict(self) -> dict[str, int]:
        return {"bytes_fetched": self.bytes_fetched, "requests": self.requests,
                "resumes": self.resumes, "retries": self.retries,
                "cache_hits": self.cache_hits}


class Source(Protocol):
    location: str
    stats: SourceStats

    def manifest_bytes(self) -> bytes: ...

    def set_data_file(self, name: str) -> None: ...

    def read(self, offset: int, length: int, fresh: bool = False) -> bytes:
        """`length` bytes of the data file at `offset` (fresh: bypass any cache)."""
        ...

    def close(self) -> None: ...


def open_source(location: str, cache_dir: Path | None = None, **http_options: float) -> Source:
    scheme = urlsplit(location).scheme
    if scheme in ("http", "https"):
        return HttpSource(location, cache_dir=cache_dir, **http_options)
    if scheme not in ("", "file"):
        raise SourceError(Msg("unsupported image location {location}", location=location))
    path = urlsplit(location).path if scheme == "file" else location
    return LocalSource(Path(path))


class LocalSource:
    def __init__(self, manifest_path: Path):
        self.location = str(manifest_path)
        self.manifest_path = manifest_path
        self.stats = SourceStats()
        self._fd: int | None = None

    def manifest_bytes(self) -> bytes:
        try:
            return self.manifest_path.read_bytes()
        except OSError as exc:
            raise SourceError(Msg("cannot read manifest {path}: {error}",
                                  path=str(self.manifest_path), error=os_reason(exc))
                              ) from exc

    def set_data_file(self, name: str) -> None:
        path = self.manifest_path.parent / name
        try:
            self._fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise SourceError(Msg("cannot open data file {path}: {error}", path=str(path),
                                  error=os_reason(exc))) from exc
        os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)

    def read(self, offset: int, length: int, fresh: bool = False) -> bytes:
        assert self._fd is not None, "set_data_file first"
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise SourceError(Msg("data file ends at {end}, before {offset}+{length}",
                                  end=offset + len(data), offset=offset, length=length))
        self.stats.add(bytes_fetched=length, requests=1)
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class HttpSource:
    def __init__(self, url: str, cache_dir: Path | None = None, connect_timeout: float = 10.0,
                 read_timeout: float = 30.0, max_attempts: float = 8, backoff: float = 0.5):
        self.location = url
        self.url = url
        self.data_url = ""
        self.stats = SourceStats()
        self.timeout = (connect_timeout, read_timeout)
        self.max_attempts = int(max_attempts)
        self.backoff = backoff
        self.cache_dir = cache_dir
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._cache_fd: int | None = None
        self._have: set[tuple[int, int]] = set()
        self._have_file: Path | None = None

    def _session(self) -> requests.Session:
        import requests

        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = "ardoise-imaging"
            session.headers["Accept-Encoding"] = "identity"
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def manifest_bytes(self) -> bytes:
        import requests

        last: Exception | None = None
        for attempt in range(self.max_attempts):
            try:
                with self._session().get(self.url, timeout=self.timeout, stream=True) as r:
                    self.stats.add(requests=1)
                    if r.status_code != 200:
                        raise SourceError(Msg("could not download {url} (HTTP {status})",
                                              url=self.url, status=r.status_code))
                    body = _manifest_body(r)
                if self.cache_dir is not None:
                    self.cache_dir.mkdir(parents=True, exist_ok=True)
                    name = Path(urlsplit(self.url).path).name or "image.manifest.json"
                    (self.cache_dir / name).write_bytes(body)
                return body
            except requests.RequestException as exc:
                last = exc
                log.info("manifest %s: %s", self.url, exc)
                self.stats.add(retries=1)
                if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema
                              | requests.exceptions.InvalidSchema):
                    break  # an address that cannot work: asking again will not help
                time.sleep(self.backoff * (attempt + 1))
        raise SourceError(Msg("could not download {url}: {reason}", url=self.url,
                              reason=network_reason(last) if last else Msg("no answer")))

    def set_data_file(self, name: str) -> None:
        self.data_url = urljoin(self.url, name)
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            self._cache_fd = os.open(self.cache_dir / name, os.O_RDWR | os.O_CREAT, 0o644)
            self._have_file = self.cache_dir / (name + ".have")
            if self._have_file.exists():
                for line in self._have_file.read_text().splitlines():
                    parts = line.split()
                    if len(parts) == 2:
                        self._have.add((int(parts[0]), int(parts[1])))

    def read(self, offset: int, length: int, fresh: bool = False) -> bytes:
        if self._cache_fd is not None and not fresh and (offset, length) in self._have:
            data = os.pread(self._cache_fd, length, offset)
            if len(data) == length:
                self.stats.add(cache_hits=1)
                return data
        data = self._fetch(offset, length)
        if self._cache_fd is not None:
            os.pwrite(self._cache_fd, data, offset)
            with self._lock:
                if (offset, length) not in self._have:
                    self._have.add((offset, length))
                    assert self._have_file is not None
                    with open(self._have_file, "a") as fh:
                        fh.write(f"{offset} {length}\n")
        return data

    def _fetch(self, offset: int, length: int) -> bytes:
        import requests

        buf = bytearray()
        failures = 0
        while len(buf) < length:
            start = offset + len(buf)
            end = offset + length - 1
            got_before = len(buf)
            try:
                self.stats.add(requests=1)
                with self._session().get(self.data_url, headers={"Range": f"bytes={start}-{end}"},
                                         stream=True, timeout=self.timeout) as r:
                    if r.status_code == 206:
                        skip = 0
                    elif r.status_code == 200:  # server ignores Range: skip to our bytes
                        skip = start
                    elif r.status_code in (408, 429) or r.status_code >= 500:
                        raise requests.ConnectionError(f"HTTP {r.status_code}")
                    else:
                        raise SourceError(Msg("could not download {url} (HTTP {status} for "
                                              "bytes {start}-{end})", url=self.data_url,
                                              status=r.status_code, start=start, end=end))
                    for block in _blocks(r):
                        if skip:
                            cut = min(skip, len(block))
                            block, skip = block[cut:], skip - cut
                        buf += block[: length - len(buf)]
                        if len(buf) >= length:
                            break
                    if len(buf) < length and len(buf) == got_before:
                        raise requests.ConnectionError("empty response")
            except requests.RequestException as exc:
                received = len(buf) - got_before
                if received:
                    self.stats.add(resumes=1)
                    failures = 0
                else:
                    self.stats.add(retries=1)
                    failures += 1
                log.info("range %d-%d: %s (%d bytes received, resuming)", start, end, exc,
                         received)
                if failures >= self.max_attempts:
                    raise SourceError(Msg("could not download {url}: bytes {start}-{end} "
                                          "failed {n} times: {reason}", url=self.data_url,
                                          start=start, end=end, n=failures,
                                          reason=network_reason(exc))) from exc
                time.sleep(self.backoff * failures)
        self.stats.add(bytes_fetched=length)
        return bytes(buf)

    def close(self) -> None:
        with self._lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()
        if self._cache_fd is not None:
            os.close(self._cache_fd)
            self._cache_fd = None


MAX_MANIFEST_BYTES = 256 << 20  # a manifest of a 2 TB image with 4 MiB chunks: ~100 MB


def _manifest_body(response: requests.Response) -> bytes:
    """The manifest's bytes; what is not JSON (a raw disk image at that address) is known
    from its first bytes, before a download of gigabytes into memory."""
    from appliance.imaging.manifest import ManifestError, not_a_manifest

    body = bytearray()
    checked = False
    for block in response.iter_content(64 * 1024):
        body += block
        if not checked and len(body) >= 4096:
            checked = True
            if not looks_like_json(bytes(body[:4096])):
                raise ManifestError(not_a_manifest())
        if len(body) > MAX_MANIFEST_BYTES:
            raise ManifestError(Msg("the manifest is larger than {n} bytes: is it a manifest?",
                                    n=MAX_MANIFEST_BYTES))
    return bytes(body)


def _blocks(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives (read1: whatever one socket read gives), so that the bytes
    received before a connection drops are kept; transport errors become
    requests.ConnectionError."""
    import requests
    import urllib3

    raw = response.raw
    while True:
        try:
            block = raw.read1(READ_BLOCK, decode_content=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise requests.ConnectionError(str(exc)) from exc
        if not block:
            return
        yield block
