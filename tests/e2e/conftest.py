"""The real server process, started through the CLI as a user would."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN, REDIS, queue_prefix
from tests.servers import running_server


@dataclass(frozen=True)
class Server:
    url: str
    publishable_key: str
    log: Path


@pytest.fixture(scope="session")
def server(
    session_database_copy: str, publishable_key: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("server")
    env = {
        **os.environ,
        "DATABASE_URL": session_database_copy,
        "ADMIN_API_TOKEN": ADMIN_TOKEN,
        "PUBLISHABLE_API_KEY": publishable_key,
        "REDIS_URL": REDIS,
        "QUEUE_PREFIX": queue_prefix(),
    }
    log = workdir / "server.log"
    with running_server(env, workdir, log) as url:
        yield Server(url, publishable_key, log)
