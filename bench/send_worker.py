"""``python -m bench.send_worker``: the worker (:func:`shoa_api.worker.run_worker`, configured by ``SHOA_*``
variables) with its sending job alone, until SIGTERM — so that a benchmark measures delivery without the worker's
other jobs deciding anything on the wall clock meanwhile."""

from __future__ import annotations

import asyncio
import signal
import sys

from shoa_api.settings import load_settings
from shoa_api.worker import notify_dispatch_job, run_worker


async def main() -> int:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await run_worker(load_settings(), stop=stop, jobs=[notify_dispatch_job()])
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
