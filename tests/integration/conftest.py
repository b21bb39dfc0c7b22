"""Server fixtures: a real uvicorn server on a free loopback port, in a thread of the test."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from mlship.registry import Registry
from mlship.serving import ServeSettings, create_app
from tests.conftest import free_port


class RunningServer:
    """A started server: its URL, settings and the thread it runs in."""

    def __init__(
        self, server: uvicorn.Server, thread: threading.Thread, url: str, settings: ServeSettings
    ) -> None:
        self.server = server
        self.thread = thread
        self.url = url
        self.settings = settings

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the server did not stop within 30 s"


ServeFactory = Callable[..., RunningServer]


@pytest.fixture
def serve_factory(tmp_path: Path) -> Iterator[ServeFactory]:
    """Start ``create_app(settings, registry)`` under uvicorn; stopped at the end of the test."""
    running: list[RunningServer] = []

    def start(registry: Registry, **options: object) -> RunningServer:
        port = free_port()
        settings = replace(
            ServeSettings(port=port, spill_dir=tmp_path / f"spill-{port}", refresh_interval_s=0.2),
            **options,
        )
        app = create_app(settings, registry)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", loop="asyncio", lifespan="on"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive():
                pytest.fail("the server exited during start-up (see the log above)")
            if time.monotonic() > deadline:
                pytest.fail("the server did not start within 60 s")
            time.sleep(0.02)
        handle = RunningServer(server, thread, f"http://127.0.0.1:{port}", settings)
        running.append(handle)
        return handle

    yield start
    for handle in running:
        if handle.thread.is_alive():
            handle.stop()


# ------------------------------------------------------------------------------ faults


@contextlib.contextmanager
def provided(fault: contextlib.AbstractContextManager[Any]) -> Iterator[Any]:
    """Enter a fault of :mod:`tests.integration.faults`; when the machine cannot provide it
    (not root), fail under CI and skip otherwise."""
    from tests.integration.faults import Unavailable

    try:
        value = fault.__enter__()
    except Unavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc}, and CI is set")
        pytest.skip(f"{exc} (set CI to make this an error)")
    try:
        yield value
    finally:
        fault.__exit__(None, None, None)


# ------------------------------------------------------------------------------ headless browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (a dev dependency). Without a browser the test is
    skipped locally and fails under ``CI`` (``.ci/run`` installs chromium)."""
    import shutil

    import playwright.sync_api as sync_api

    names = ("chromium", "chromium-browser", "google-chrome")
    executable = next((path for name in names if (path := shutil.which(name))), None)
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except sync_api.Error as exc:
            reason = f"no Chromium to launch ({str(exc).splitlines()[0]})"
            if os.environ.get("CI"):
                pytest.fail(reason + "; .ci/run installs Debian's chromium")
            pytest.skip(reason)
        yield launched
        launched.close()
