"""Which CPU the server under test gets and which the load generator gets, so neither steals from the other."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shoa_api.runtime import die_with_parent

if TYPE_CHECKING:
    import signal
    from collections.abc import Callable


@dataclass(frozen=True)
class CpuPlan:
    server: frozenset[int] | None
    load: frozenset[int] | None

    def describe(self) -> str:
        if self.server is None or self.load is None:
            return "not pinned (fewer than 2 CPUs): server, k6, PostgreSQL and Redis share the CPU"
        return f"server pinned to CPU {_names(self.server)}; k6, PostgreSQL and Redis pinned to CPU {_names(self.load)}"


def plan_cpus() -> CpuPlan:
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return CpuPlan(server=None, load=None)
    return CpuPlan(server=frozenset(available[:1]), load=frozenset(available[1:2]))


def child_setup(cpus: frozenset[int] | None, death_signal: signal.Signals) -> Callable[[], None]:
    """A ``preexec_fn``: pin the child before it runs anything, and stop it if we die without cleaning up."""
    die_with_us = die_with_parent(death_signal)

    def setup() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
        die_with_us()

    return setup


def _names(cpus: frozenset[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))
