"""``python -m bench.send_worker [--restock]``: the worker (:func:`shoa_api.worker.run_worker`, configured by
``SHOA_*`` variables) with its sending job alone, and with ``--restock`` the restock-wave job too, until SIGTERM —
so that a benchmark measures delivery without the worker's other jobs deciding anything on the wall clock
meanwhile. It runs on every CPU, whatever the benchmark's own process is pinned to."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from shoa_api.settings import load_settings
from shoa_api.worker import notify_dispatch_job, restock_waves_job, run_worker


async def main(arguments: list[str]) -> int:
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    jobs = [notify_dispatch_job(), *([restock_waves_job()] if "--restock" in arguments else [])]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await run_worker(load_settings(), stop=stop, jobs=jobs)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
