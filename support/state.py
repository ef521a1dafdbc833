"""A conversation's memory between messages, in Redis, per messenger user: who is asking, the order talked
about, and the question the bot is waiting on. It lasts ``state_minutes`` after the shopper's last message; an
expired conversation starts again from the menu, which is all a shopper who left loses.

The identity-proof lock is a counter of wrong answers beside it, which expires ``lock_minutes`` after the first
wrong one: ``proof_tries`` wrong answers within that time lock the messenger user out for ``lock_minutes`` from
the last. A right answer clears it.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import msgspec

if TYPE_CHECKING:
    from redis.asyncio import Redis

PendingKind = Literal[
    "order_number", "phone_digits", "choose_order", "choose_item", "choose_option", "confirm", "address"
]


class Pending(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The question the bot asked and what it was asked for."""

    kind: PendingKind
    intent: str
    order_number: str | None = None
    """``phone_digits``: the order number the shopper gave, checked with the digits."""
    mall_order_id: uuid.UUID | None = None
    line_ids: list[uuid.UUID] = []
    variant_id: uuid.UUID | None = None
    whole_order: bool = False
    """``confirm`` of a cancel: the whole order goes (an unpaid order is cancelled whole)."""
    options: list[str] = []
    """The values the numbered choices stand for (mall-order, line or variant ids), in the order shown."""
    labels: list[str] = []
    """What each choice is called (an option's colour and size), so that a shopper may answer with it."""
    prompt: str = ""
    """The question as asked, to ask again."""


class Conversation(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the bot remembers of one messenger user's conversation."""

    started_at: datetime.datetime
    locale: str = "ko"
    user_id: uuid.UUID | None = None
    """The account of a linked messenger user, or of the orders proven in this conversation."""
    linked: bool = False
    """Whether ``user_id`` comes from a link (every order of the account may be shown) rather than a proof."""
    proven_orders: list[uuid.UUID] = []
    mall_order_id: uuid.UUID | None = None
    """The mall-order the conversation is about, once there is one."""
    pending: Pending | None = None
    messages: int = 0
    """Messages answered in this conversation (the first unknown one is greeted with the menu)."""
    not_understood: int = 0
    """Messages in a row the bot did not understand; the second hands the conversation to people."""


WAITING_DAYS = 30
"""How long after a hand-off a KakaoTalk user's messages look for replies to show (inquiries older than that are
answered by then, or closed)."""


class Saved(msgspec.Struct, kw_only=True):
    """A conversation as the last message left it, and as it was before, for as long as that message's turn may
    not be committed. Redis is written before the database commits the turn (and what the message did): if that
    transaction is lost (a crash, an error), the platform's redelivery, or the shopper's next message, must meet
    the conversation as the database knows it, so ``now`` counts only once ``turn`` is committed."""

    turn: uuid.UUID
    now: Conversation
    before: Conversation | None = None


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """What Redis holds for a messenger user when a message arrives."""

    saved: Saved | None
    locked: bool
    """Too many wrong proofs: the lock is on."""
    waiting_for_reply: bool
    """A hand-off was made lately: people's replies may wait to be shown."""


@dataclass(frozen=True, kw_only=True)
class StateStore:
    redis: Redis
    minutes: int = 15
    proof_tries: int = 5
    lock_minutes: int = 60

    def _key(self, channel: str, chat_user: str) -> str:
        return f"support:chat:{channel}:{chat_user}"

    def _tries_key(self, channel: str, chat_user: str) -> str:
        return f"support:proof:{channel}:{chat_user}"

    async def load(self, channel: str, chat_user: str) -> Snapshot:
        """The conversation, whether the proof is locked and whether replies may wait: one round trip."""
        keys = (
            self._key(channel, chat_user),
            self._tries_key(channel, chat_user),
            self._waiting_key(channel, chat_user),
        )
        raw, tries, waiting = await self.redis.mget(keys)
        saved = None
        if raw is not None:
            try:
                saved = msgspec.json.decode(raw, type=Saved)
            except (msgspec.DecodeError, msgspec.ValidationError):
                saved = None  # written by an older version: start again
        return Snapshot(saved=saved, locked=tries is not None and int(tries) >= self.proof_tries,
                        waiting_for_reply=waiting is not None)  # fmt: skip

    async def save(self, channel: str, chat_user: str, saved: Saved) -> None:
        await self.redis.set(self._key(channel, chat_user), msgspec.json.encode(saved), ex=self.minutes * 60)

    def _waiting_key(self, channel: str, chat_user: str) -> str:
        return f"support:waiting:{channel}:{chat_user}"

    async def expect_reply(self, channel: str, chat_user: str) -> None:
        """Note that people may answer this messenger user (a hand-off): for ``WAITING_DAYS``, each of their
        messages looks for replies the bot must show first."""
        await self.redis.set(self._waiting_key(channel, chat_user), b"1", ex=WAITING_DAYS * 86_400)

    async def failed_proof(self, channel: str, chat_user: str) -> int:
        """Count a wrong answer; how many tries are left before the lock."""
        key = self._tries_key(channel, chat_user)
        async with self.redis.pipeline(transaction=True) as pipe:
            # SET NX EX starts the count with its expiry, INCR keeps it (EXPIRE NX needs Redis 7; embedded is 6.2).
            pipe.set(key, 0, ex=self.lock_minutes * 60, nx=True)
            pipe.incr(key)
            _, tries = await pipe.execute()
        if int(tries) >= self.proof_tries:
            await self.redis.expire(key, self.lock_minutes * 60)  # the lock lasts its whole time from the last try
        return max(self.proof_tries - int(tries), 0)

    async def proved(self, channel: str, chat_user: str) -> None:
        await self.redis.delete(self._tries_key(channel, chat_user))
