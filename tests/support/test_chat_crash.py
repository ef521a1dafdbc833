"""The real API process (``shoa serve``) killed with SIGKILL while it answers a shopper's "yes" on LINE: the return
she confirmed is neither lost nor doubled. LINE delivers the webhook again (same ``webhookEventId``) once the API is
back, and the bot, meeting the conversation as the database knows it (still waiting for her yes), takes the return
once and answers once; a third delivery changes nothing.

The kill point is reached without a hook in the app: the test holds ``LOCK TABLE notify_chat_windows IN SHARE
MODE``, so the request has written its turn and the return with its message, and saved the conversation's new state
in Redis (nothing waits for her yes any more), and waits to note LINE's reply window, just before the answer's
outbox row and the commit, when the process dies.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx
import sqlalchemy as sa

from notify.models import Message
from orders.models import AfterSale
from shoa_api.settings import child_environment
from support.models import Turn
from tests.locks import TableLock
from tests.notify.counting_server import free_port
from tests.orders.conftest import pay_by_card, place_order
from tests.support.conftest import LINE_SECRET, line_signature, line_webhook

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

    from tests.conftest import Services
    from tests.orders.conftest import Catalog, Malls, Shopper

ME = "U7c1d3e5f7a9b2c4d6e8f0a1b3c5d7e9f"


class Api:
    """``shoa serve`` with the LINE channel secret, on the suite's PostgreSQL and Redis."""

    def __init__(self, services: Services, log: Path) -> None:
        self.services, self.log = services, log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        environment = self.services.environ(SHOA_SUPPORT_LINE_CHANNEL_SECRET=LINE_SECRET)
        with self.log.open("ab") as output:
            return subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "shoa_api", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=child_environment(environment), cwd=self.log.parent, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip

    async def start(self) -> None:
        port = free_port()
        self.process = await asyncio.to_thread(self._spawn, port)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as probe:
            while True:
                assert self.process.poll() is None, self.log.read_text()
                try:
                    if (await probe.get("/health/live")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, self.log.read_text()
                await asyncio.sleep(0.1)

    async def post(self, body: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/json", "X-Line-Signature": line_signature(body)}
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            return await client.post("/webhooks/chat/line", content=body, headers=headers)

    async def say(self, text: str) -> None:
        answered = await self.post(line_webhook(ME, text))
        assert (answered.status_code, answered.json()) == (200, {"answered": 1}), answered.text

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


async def _waiting_on_the_lock(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        waiting = await connection.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query ILIKE '%notify_chat_windows%'"
            )
        )
    return bool(waiting)


async def _counts(engine: AsyncEngine, event_id: str) -> tuple[int, int, int]:
    """Returns taken, turns of the event, answers to the event's turn."""
    async with engine.connect() as connection:
        returns = await connection.scalar(sa.select(sa.func.count()).select_from(AfterSale))
        turn_ids = list(await connection.scalars(sa.select(Turn.id).where(Turn.event_id == event_id)))
        answers = await connection.scalar(
            sa.select(sa.func.count())
            .select_from(Message)
            .where(Message.idempotency_key.in_([f"chat:{turn_id}" for turn_id in turn_ids]))
        )
    return int(returns or 0), len(turn_ids), int(answers or 0)


async def test_the_api_killed_while_answering_a_yes_takes_the_return_once_on_lines_redelivery(
    services: Services, engine: AsyncEngine, shopper: Shopper, catalog: Catalog, malls: Malls, tmp_path: Path
) -> None:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1})
    await pay_by_card(shopper, order)
    (paid,) = await malls.haru.orders(status="paid")
    await malls.haru.accept(paid["id"])
    await malls.haru.ship(paid["id"], carrier="cj", tracking_number="640123456789")
    await malls.haru.deliver(paid["id"])

    api = Api(services, tmp_path / "api.log")
    await api.start()
    try:
        for text in ("반품할래요", order["number"], "5678"):
            await api.say(text)
        # She was asked to confirm the return; her yes is being answered when the process dies.
        yes = line_webhook(ME, "네", event_id="01JYES0000000000000000000A")
        lock = TableLock(engine, "notify_chat_windows")
        await lock.take()
        try:
            answering = asyncio.create_task(api.post(yes))
            deadline = time.monotonic() + 30
            while not await _waiting_on_the_lock(engine):
                assert time.monotonic() < deadline, "the answer never reached the outbox"
                await asyncio.sleep(0.05)
            await asyncio.to_thread(api.kill)
        finally:
            await lock.release()
        (lost,) = await asyncio.gather(answering, return_exceptions=True)
        assert isinstance(lost, httpx.TransportError)  # LINE saw no answer: it will deliver again
        # Nothing of the yes survived the dead process: no return, no turn, no answer.
        assert await _counts(engine, "01JYES0000000000000000000A") == (0, 0, 0)
        (part,) = await malls.haru.orders()
        assert part["status"] == "delivered"

        # LINE delivers it again to the restarted API: the return is taken once, and answered once.
        await api.start()
        again = line_webhook(ME, "네", event_id="01JYES0000000000000000000A", redelivery=True)
        answered = await api.post(again)
        assert (answered.status_code, answered.json()) == (200, {"answered": 1}), answered.text
        assert await _counts(engine, "01JYES0000000000000000000A") == (1, 1, 1)
        (part,) = await malls.haru.orders()
        assert part["status"] == "return_requested"

        # A third delivery of the same event changes nothing.
        third = await api.post(again)
        assert (third.status_code, third.json()) == (200, {"answered": 0}), third.text
        assert await _counts(engine, "01JYES0000000000000000000A") == (1, 1, 1)
    finally:
        await asyncio.to_thread(api.stop)
