"""The win-back benchmark's third part (``bench.winback``): a restock wave from the mall's restock to every
waiting shopper's phone, as it happens in production.

``waiting`` new shoppers wait for the sold-out variant; ``workers`` worker processes run (``bench.send_worker
--restock``: the worker's restock-wave job, every 5 s, and its sending job) against ``bench.provider_server nhn``, the tests'
NHN Cloud fake in a process of its own. The mall restocks through ``PATCH /partner/v1/products/{external_id}``;
the clock runs from that call until NHN has accepted the last AlimTalk (the workers decide the wave a chunk at a
time and send each chunk while deciding the next, a thousand recipients to a request). Then NHN's own record:
every waiting shopper shown the AlimTalk once, none twice, none missed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.provider_server import ProviderServer
from bench.winback_wave import RESTOCKED_UNITS, WAVE_KEYS, Restocked, add_waiting

if TYPE_CHECKING:
    import uuid
    from collections.abc import Mapping
    from pathlib import Path

    import asyncpg

    from bench.winback import Run

READY_WITHIN = 30.0
DELIVER_WITHIN = 600.0


class DeliveryError(RuntimeError):
    pass


@dataclass(frozen=True, kw_only=True)
class Delivery:
    messages: int
    accepted: int
    """Of the wave's messages, those NHN accepted (the others failed or were dead-lettered)."""
    seconds: float
    requests: int
    """Requests NHN answered (a thousand recipients each, at most)."""
    missed: int
    """Waiting shoppers NHN never showed the AlimTalk."""
    doubled: int
    """Shoppers shown it more than once."""

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def problems(self) -> list[str]:
        found = [f"delivery: {self.missed:,} waiting shoppers never shown the AlimTalk"] if self.missed else []
        found += [f"delivery: {self.doubled:,} shoppers shown it twice"] if self.doubled else []
        if self.accepted != self.messages:
            found.append(f"delivery: {self.accepted:,} of {self.messages:,} messages accepted")
        return found


async def restock_to_phones(
    run: Run,
    restocked: Restocked,
    environment: Mapping[str, str],
    tmp: Path,
    *,
    waiting: int,
    workers: int,
    seed: int,
    round_number: int,
) -> Delivery:
    """Restock the variant for ``waiting`` new shoppers, with ``workers`` workers running: what NHN saw, and how
    long after the restock its last acceptance came. Messages still queued from earlier parts (the measured
    waves, the simulation's advertising: no worker ran then) are taken out first, so that only this wave goes."""
    path = f"/partner/v1/products/{restocked.external_id}"
    await run.partner(restocked.mall_id, "PATCH", path, json={"variants": [{"sku": restocked.sku, "stock": 0}]})
    await run.connection.execute("DELETE FROM notify_messages WHERE status IN ('queued', 'sending')")
    await add_waiting(run.connection, restocked, waiting=waiting, seed=seed, round_number=round_number)
    phones = [row["phone"] for row in await run.connection.fetch(_WAITING_PHONES, restocked.variant_id)]
    accepted_before = await run.connection.fetchval(_ACCEPTED, WAVE_KEYS)
    with (
        ProviderServer("nhn", tmp / "nhn.json") as nhn,
        _Senders({**environment, **_nhn_variables(nhn.info)}, tmp, workers=workers) as senders,
    ):
        await _until_ready(senders)
        started = time.perf_counter()
        stock = {"variants": [{"sku": restocked.sku, "stock": RESTOCKED_UNITS}]}
        await run.partner(restocked.mall_id, "PATCH", path, json=stock)
        await _until_sent(run.connection, restocked.variant_id, senders)
        seconds = time.perf_counter() - started
    shown: dict[str, int] = nhn.record["shown"]
    wanted = {"0" + phone.removeprefix("+82") for phone in phones}
    accepted = await run.connection.fetchval(_ACCEPTED, WAVE_KEYS) - accepted_before
    return Delivery(
        messages=len(phones),
        accepted=accepted,
        seconds=seconds,
        requests=nhn.record["requests"],
        missed=len(wanted - set(shown)),
        doubled=sum(1 for count in shown.values() if count > 1),
    )


_WAITING_PHONES = (
    "SELECT users.phone FROM winback_restock_alerts JOIN users ON users.id = winback_restock_alerts.user_id "
    "WHERE winback_restock_alerts.variant_id = $1 AND winback_restock_alerts.status = 'waiting'"
)
_ACCEPTED = "SELECT count(*) FROM notify_messages WHERE idempotency_key LIKE $1 AND status = 'accepted'"
_LEFT = (
    "SELECT (SELECT count(*) FROM winback_restock_alerts WHERE variant_id = $1 AND status = 'waiting') "
    "+ (SELECT count(*) FROM notify_messages WHERE status IN ('queued', 'sending'))"
)
"""Shoppers still waiting, and messages still to send: the wave is over when both are none."""


class _Senders:
    """``workers`` processes of ``bench.send_worker --restock``, stopped (SIGTERM, as a deployment stops a worker) at exit."""

    def __init__(self, environment: Mapping[str, str], tmp: Path, *, workers: int) -> None:
        self.environment = {**os.environ, **environment, "SHOA_LOG_LEVEL": "WARNING"}
        self.logs = [tmp / f"send-worker-{n}.log" for n in range(workers)]
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> _Senders:
        for log in self.logs:
            with log.open("w") as output:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bench.send_worker", "--restock"],
                        env=self.environment,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                    )
                )
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=60)

    def check_alive(self) -> None:
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                raise DeliveryError(f"a sending worker exited: {log.read_text()[-2000:]}")


def _nhn_variables(nhn: Mapping[str, str]) -> dict[str, str]:
    return {
        "SHOA_NOTIFY_PROVIDER_ALIMTALK": "nhn",
        "SHOA_NOTIFY_PROVIDER_SMS": "nhn",
        "SHOA_NHN_ALIMTALK_BASE_URL": nhn["url"],
        "SHOA_NHN_SMS_BASE_URL": nhn["url"],
        "SHOA_NHN_ALIMTALK_APP_KEY": nhn["app_key"],
        "SHOA_NHN_ALIMTALK_SECRET_KEY": nhn["secret_key"],
        "SHOA_NHN_SENDER_KEY": nhn["sender_key"],
        "SHOA_NHN_SMS_APP_KEY": nhn["sms_app_key"],
        "SHOA_NHN_SMS_SECRET_KEY": nhn["sms_secret_key"],
        "SHOA_NHN_SEND_NO": nhn["send_no"],
    }


async def _until_ready(senders: _Senders) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while not all("ready" in log.read_text() for log in senders.logs):
        senders.check_alive()
        if time.monotonic() > deadline:
            raise DeliveryError("the sending workers did not start")
        await asyncio.sleep(0.05)


async def _until_sent(connection: asyncpg.Connection, variant_id: uuid.UUID, senders: _Senders) -> None:
    deadline = time.monotonic() + DELIVER_WITHIN
    while (left := await connection.fetchval(_LEFT, variant_id)) > 0:
        senders.check_alive()
        if time.monotonic() > deadline:
            raise DeliveryError(f"{left:,} shoppers still waiting or messages unsent after {DELIVER_WITHIN:.0f} s")
        await asyncio.sleep(0.1)
