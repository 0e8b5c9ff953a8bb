"""A real ledger server in a thread and Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from ledger.app import asgi, create_app
from ledger.store import Ledger

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@contextmanager
def running_server(ledger: Ledger, lost_after: float = 60) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(asgi(create_app(ledger, lost_after=lost_after)), host="127.0.0.1",
                            port=port, log_level="warning", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def chromium(base_url: str, token: str, language: str = "en-CA") -> Iterator[Any]:
    """A Playwright page, signed in (session cookie), speaking `language`."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="ardoise-chromium-") as profile, \
            sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            locale=language, extra_http_headers={"Accept-Language": language},
            viewport={"width": 1280, "height": 900})
        try:
            context.add_cookies([{"name": "ardoise_token", "value": token, "url": base_url}])
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
