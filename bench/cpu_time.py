"""CPU time from /proc: how busy the server was, and how much CPU processes outside the benchmark took meanwhile.

A server below ~100% of its CPU was not what limited the run; CPU taken by other processes (a test suite running
on the same machine, say) makes the run's numbers unreliable.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    wall_seconds: float
    machine_busy_seconds: float
    benchmark_seconds: float
    server_seconds: float

    @classmethod
    def take(cls, server_pid: int) -> CpuSample:
        return cls(
            wall_seconds=time.monotonic(),
            machine_busy_seconds=_machine_busy_seconds(),
            benchmark_seconds=_benchmark_seconds(),
            server_seconds=process_cpu_seconds(server_pid),
        )


@dataclass(frozen=True)
class CpuUse:
    server_percent: float
    """Of one CPU, over the time k6 sent requests."""
    others_percent: float
    """Of one CPU, taken by processes outside this benchmark's process tree."""


def cpu_use(before: CpuSample, after: CpuSample, *, test_seconds: float) -> CpuUse:
    server = after.server_seconds - before.server_seconds
    elapsed = after.wall_seconds - before.wall_seconds
    others = (after.machine_busy_seconds - before.machine_busy_seconds) - (
        after.benchmark_seconds - before.benchmark_seconds
    )
    return CpuUse(
        server_percent=100 * server / test_seconds if test_seconds else 0.0,
        # Tick rounding makes a quiet machine come out a little either side of zero.
        others_percent=max(0.0, 100 * others / elapsed) if elapsed else 0.0,
    )


def process_cpu_seconds(pid: int, *, with_reaped_children: bool = False) -> float:
    fields = _stat_fields(pid)
    # utime and stime are fields 14 and 15 of /proc/PID/stat; cutime and cstime follow.
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICKS_PER_SECOND


def _benchmark_seconds() -> float:
    """This process, the children it has reaped (each k6 run), and every live descendant (servers, PostgreSQL)."""
    own = os.times()
    total = own.user + own.system + own.children_user + own.children_system
    for pid in _descendants(os.getpid()):
        try:
            total += process_cpu_seconds(pid, with_reaped_children=True)
        except (OSError, IndexError, ValueError):
            continue  # it exited between the listing and the reading
    return total


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    pending = [root]
    while pending:
        kids = children.get(pending.pop(), [])
        found += kids
        pending += kids
    return found


def _machine_busy_seconds() -> float:
    # First line of /proc/stat: user nice system idle iowait irq softirq steal (guest time is inside user).
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks) - idle - iowait) / TICKS_PER_SECOND


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name, which may itself hold spaces: state is [0], ppid [1]."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
