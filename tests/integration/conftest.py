"""Server fixtures: a real uvicorn server on a free loopback port, in a thread of the test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

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
