"""HTTP(S) PUT target for `image capture --out URL`: the data file is streamed as it is
built (chunked transfer encoding, no local copy), then the manifest is PUT beside it, so a
manifest only appears once its data is complete."""

from __future__ import annotations

import queue
import threading
from types import TracebackType
from typing import Any

from erasure.text import Msg

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 300.0
OK_STATUS = (200, 201, 204)


class UploadError(Exception):
    def __init__(self, message: Msg):
        super().__init__(message)
        self.message = message


def _check(url: str, response: Any) -> None:
    if response.status_code not in OK_STATUS:
        raise UploadError(Msg("{url}: HTTP {status} to PUT", url=url,
                              status=response.status_code))


class PutStream:
    """A write-only file whose bytes go to one HTTP PUT request."""

    def __init__(self, url: str):
        self.url = url
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self._error: UploadError | None = None
        self._thread = threading.Thread(target=self._send, name="image-put", daemon=True)
        self._thread.start()

    def _body(self) -> Any:
        while (block := self._queue.get()) is not None:
            yield block

    def _send(self) -> None:
        import requests

        try:
            r = requests.put(self.url, data=self._body(), timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                             headers={"Content-Type": "application/octet-stream"})
            _check(self.url, r)
        except requests.RequestException as exc:
            self._error = UploadError(Msg("{url}: upload failed: {error}", url=self.url,
                                          error=str(exc)))
        except UploadError as exc:
            self._error = exc
        finally:  # let a writer blocked on a full queue go on (and then fail)
            while not self._queue.empty():
                self._queue.get_nowait()

    def write(self, data: bytes | memoryview) -> int:
        block = bytes(data)
        while True:
            if not self._thread.is_alive():
                raise self._error or UploadError(Msg("{url}: the upload ended early",
                                                     url=self.url))
            try:
                self._queue.put(block, timeout=1.0)
                return len(block)
            except queue.Full:
                continue

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> PutStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def put_bytes(url: str, data: bytes) -> None:
    import requests

    try:
        _check(url, requests.put(url, data=data, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                                 headers={"Content-Type": "application/json"}))
    except requests.RequestException as exc:
        raise UploadError(Msg("{url}: upload failed: {error}", url=url, error=str(exc))) from exc
