"""Embedded PostgreSQL and Redis for one benchmark run, migrated, with the settings Shoa's processes read.

The benchmarks that run the real app against its real services (``sync``, ``checkout``, ``events``, ``winback``,
``notify``, ``rollup`` …) all start the same way: both services in a scratch directory without durability (a
run's data dies with it), this process (and so every service and server it starts) pinned to the load's CPU,
Alembic to head, and the production-default ``SHOA_*`` variables of :func:`bench.http._shoa_variables`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.http import _base_environment, _process_pinned_to, _shoa_variables
from bench.server import AppServer
from shoa_api.migrate import upgrade_to_head
from shoa_api.runtime import EmbeddedPostgres, EmbeddedRedis
from shoa_api.settings import load_settings

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from shoa_api.settings import Settings

SHOA_APP = "shoa_api.app:create_app_from_environment"


@dataclass(frozen=True)
class Services:
    tmp: Path
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    variables: dict[str, str]
    """The ``SHOA_*`` variables of the app's processes: these services and the production defaults."""
    settings: Settings

    @property
    def socket_dir(self) -> Path:
        """PostgreSQL's socket directory, for the benchmarks' own asyncpg connections."""
        return self.postgres.socket_dir

    def api_server(self, *, cpus: frozenset[int] | None, log_name: str = "server.log") -> AppServer:
        """One uvicorn process on the app factory, as ``shoa serve`` runs it (not started yet)."""
        return AppServer(
            SHOA_APP,
            environment=_base_environment() | self.variables,
            log_path=self.tmp / log_name,
            ready_path="/health/live",
            cpus=cpus,
            cwd=self.tmp,
        )


@contextlib.contextmanager
def embedded_services(
    tmp: Path, *, cpus: frozenset[int] | None, variables: Mapping[str, str] | None = None
) -> Iterator[Services]:
    """PostgreSQL and Redis under ``tmp``, migrated, with this process pinned to ``cpus`` (``None``: not pinned)
    until they stop; ``variables`` are added to (or override) the ``SHOA_*`` defaults."""
    with (
        _process_pinned_to(cpus),
        EmbeddedPostgres(tmp / "postgres", durable=False) as postgres,
        EmbeddedRedis(tmp / "redis", durable=False) as redis,
    ):
        shoa = _shoa_variables(database_url=postgres.url, redis_url=redis.url) | dict(variables or {})
        settings = load_settings(shoa, env_file=None)
        upgrade_to_head(settings.database.url)
        yield Services(tmp=tmp, postgres=postgres, redis=redis, variables=shoa, settings=settings)
