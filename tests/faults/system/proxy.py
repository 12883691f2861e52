"""A TCP proxy in front of Redis that can pass, refuse, stall, hang or reset on command.

It runs its own event loop on a thread, so the service under test (other processes) and the
test driving it are unaffected by its work. Only 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from concurrent.futures import Future
from typing import Any

from tests.redis_tools import free_port, unaccepting_listener


class RedisProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.mode = "pass"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._connections: set[asyncio.StreamWriter] = set()
        self._stalled = contextlib.ExitStack()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProxy:
        self._thread.start()
        self._call(self._listen())
        self._loop.call_soon_threadsafe(self._flowing.set)
        return self

    def stop(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def set_mode(self, mode: str) -> None:
        """pass: forward; refuse: nothing listens (connections refused, open ones reset);
        stall: open connections reset, new ones never accepted (connecting hangs, as to a host
        that stopped answering); hang: connections accepted, nothing forwarded either way;
        reset: every open connection is reset, new ones pass."""
        assert mode in {"pass", "refuse", "stall", "hang", "reset"}
        self._call(self._switch(mode))

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def _switch(self, mode: str) -> None:
        self.mode = mode
        self._stalled.close()
        if mode in ("refuse", "stall"):
            await self._close_listener()
            self._reset_all()
        if mode == "stall":
            self._stalled.enter_context(unaccepting_listener(self.port))
        elif mode == "reset":
            self._reset_all()
            mode = "pass"
        if mode == "hang":
            self._flowing.clear()
        if mode == "pass":
            self._flowing.set()
            if self._server is None:
                await self._listen()

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def _reset_all(self) -> None:
        for writer in list(self._connections):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER 0: close with RST, as a crashed or cut-off peer would.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
        self._connections.clear()

    async def _shutdown(self) -> None:
        self._stalled.close()
        await self._close_listener()
        self._reset_all()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            self._connections.discard(writer)
            writer.close()
            return
        self._connections.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        self._connections.discard(writer)
        writer.close()
