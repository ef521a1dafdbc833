"""The chatbot's operations over a session the caller owns (it commits): a shopper's message answered and stored,
and the inquiries it handed over, as a mall (or Shoa's own support team) lists, answers and closes them.

A message is answered in the caller's transaction: its turn is written first, keyed by the platform's message id
where there is one, so a redelivered message finds its turn and is answered no second time, even while the first
delivery is still being answered by another process (the second insert waits on the first's and then finds it).
On LINE, Instagram and TalkTalk the answer is a notify message (event ``chat_answer``) written in the same
transaction, so it is sent once the turn is committed and never without it; on KakaoTalk it is the webhook's own
answer. Every inbound message also opens its channel's reply window in notify's routing.

What is stored: the utterance with phone numbers masked (an identity proof, or an address sent for a change, is
not stored at all: the address goes to the mall's inquiry only), the intent, the answer and the actions. A turn
about a mall-order carries its mall, and a mall is shown only the turns of its own mall-orders.
"""

from __future__ import annotations

import datetime
import re
import uuid as uuid_module
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from uuid_utils.compat import uuid7

from catalog.models import Mall
from notify import service as notify_service
from notify.providers.base import Channel
from notify.rendering import INSTAGRAM_MAX_BYTES
from notify.schemas import ChatExtras, OutgoingMessage, Recipient
from support.errors import InquiryClosedError, InquiryNotFoundError, InvalidCursorError, ReplyKeyReusedError
from support.lookup import ORDER_NUMBER
from support.models import Inquiry, InquiryReply, Turn
from support.schemas import InquiryOut, InquiryPage, InquiryReplyOut, TranscriptLine

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from notify.service import Outbox
    from support.dialogue import Answer, Bot, Message

_TURNS: sa.Table = Turn.__table__  # type: ignore[assignment]
"""Turns are written with Core statements: one per message, on the hot path, without the ORM's bookkeeping."""
CHAT_TEXT_LIMIT = 900
"""What ``chat_answer`` carries (its template's limit); longer answers are cut at a line end."""
TRANSCRIPT_TURNS = 20
"""Turns of the conversation an inquiry carries, the latest."""
PRIVATE = "[비공개]"
"""What a turn stores instead of an identity proof or an address."""
_PHONE = re.compile(r"(?:\+?82[\s.-]?)?0?1[016789][\s.-]?\d{3,4}[\s.-]?\d{4}")
_FOUR_DIGITS = re.compile(r"\D{0,12}\d{4}\D{0,12}")
_LONG_DIGITS = re.compile(r"\d[\d\s.-]{8,}\d")


def masked(text: str) -> str:
    """``text`` with phone numbers (and any long run of digits that may be one) masked; a message of four digits
    alone, which is what the identity proof asks for, is not kept at all."""
    if _FOUR_DIGITS.fullmatch(text.strip()):
        return PRIVATE
    # Order numbers (SH20261207-000123) are what a mall needs to answer: they stay as written.
    pieces, kept = [], 0
    for found in ORDER_NUMBER.finditer(text):
        pieces += [_masked_digits(text[kept : found.start()]), found[0]]
        kept = found.end()
    return "".join([*pieces, _masked_digits(text[kept:])])


def _masked_digits(text: str) -> str:
    return _LONG_DIGITS.sub("[번호]", _PHONE.sub("[전화번호]", text))


@dataclass(frozen=True, kw_only=True)
class Support:
    bot: Bot
    outbox: Outbox

    async def receive(
        self, session: AsyncSession, message: Message, *, now: datetime.datetime, reply_token: str | None = None
    ) -> Answer | None:
        """Answer ``message``; None when its platform id was answered before (a redelivery)."""
        if message.event_id is not None:
            claimed = await _claim_turn(session, message, now=now)
            if claimed is None:
                return None
            turn_id = claimed
        else:
            turn_id = uuid7()  # no id to deduplicate on (KakaoTalk, TalkTalk): the turn is written once, answered
        answer = await self.bot.answer(session, message, turn_id=turn_id, now=now)
        if message.channel == "kakao" and answer.replies_may_wait:
            answer.text = "\n\n".join([*await _unseen_replies(session, message, now=now), answer.text])
        part = answer.part
        stored = PRIVATE if answer.private else masked(message.text)[:1000]
        values = {
            "user_id": answer.user_id,
            "mall_order_id": part.id if part is not None else None,
            "mall_id": part.mall_id if part is not None else None,
            "utterance": stored,
            "intent": answer.intent.value,
            "answer": answer.text,
            "actions": answer.actions,
        }
        if message.event_id is not None:
            await session.execute(sa.update(_TURNS).where(_TURNS.c.id == turn_id).values(**values))
        else:
            await session.execute(
                sa.insert(_TURNS).values(
                    id=turn_id, channel=message.channel, chat_user=message.chat_user, at=now, **values
                )
            )
        if answer.hand_off is not None:
            for_mall = masked(message.text)[:1000] if answer.for_the_mall else stored
            await _hand_off(session, message, answer, turn_id=turn_id, shopper_text=for_mall, now=now)
            if message.channel == "kakao":  # a reply may have to wait for her next message
                await self.bot.states.expect_reply(message.channel, message.chat_user)
        if message.channel != "kakao":
            await notify_service.note_inbound(
                session, channel=Channel(message.channel), address=message.chat_user, now=now
            )
            await self.outbox.enqueue(
                session,
                OutgoingMessage(
                    event="chat_answer",
                    idempotency_key=f"chat:{turn_id}",
                    parameters={"text": _cut(answer.text, instagram=message.channel == "instagram")},
                    recipient=_chat_recipient(message.channel, message.chat_user, now=now, locale=answer.locale),
                    locale=answer.locale,
                    chat=ChatExtras(reply_token=reply_token, quick_replies=answer.quick_replies),
                ),
                now=now,
            )
        return answer


async def _unseen_replies(session: AsyncSession, message: Message, *, now: datetime.datetime) -> list[str]:
    """Replies to this messenger user's inquiries that no messenger carried, marked shown: the bot says them first."""
    rows = (
        await session.execute(
            sa.select(InquiryReply, Mall.name)
            .join(Inquiry, Inquiry.id == InquiryReply.inquiry_id)
            .outerjoin(Mall, Mall.id == Inquiry.mall_id)
            .where(
                Inquiry.channel == message.channel,
                Inquiry.chat_user == message.chat_user,
                InquiryReply.shown_at.is_(None),
            )
            .order_by(InquiryReply.id)
            .with_for_update(of=InquiryReply)
        )
    ).all()
    for found, _ in rows:
        found.shown_at = now
    return [f"[{mall_name or 'Shoa'}] {found.text}" for found, mall_name in rows]


async def _claim_turn(session: AsyncSession, message: Message, *, now: datetime.datetime) -> uuid.UUID | None:
    turn_id: uuid.UUID | None = await session.scalar(
        insert(_TURNS)
        .values(
            id=uuid7(),
            channel=message.channel,
            chat_user=message.chat_user,
            event_id=message.event_id,
            utterance="",
            intent="",
            answer="",
            at=now,
        )
        .on_conflict_do_nothing(constraint="uq_support_turns_channel_event_id")
        .returning(_TURNS.c.id)
    )
    return turn_id


def _cut(text: str, *, instagram: bool = False) -> str:
    """``text`` within ``CHAT_TEXT_LIMIT`` characters (and Instagram's 1,000 bytes), cut at a line end when one is
    near, else with an ellipsis."""

    def fits(candidate: str) -> bool:
        return len(candidate) <= CHAT_TEXT_LIMIT and (not instagram or len(candidate.encode()) <= INSTAGRAM_MAX_BYTES)

    if fits(text):
        return text
    end = min(len(text), CHAT_TEXT_LIMIT)
    while end > 0 and not fits(text[:end] + "…"):
        end -= 1
    head = text[:end]
    line_end = head.rfind("\n")
    return head[:line_end] if line_end > end // 2 else head + "…"


def _chat_recipient(channel: str, chat_user: str, *, now: datetime.datetime, locale: str) -> Recipient:
    """The messenger user who just wrote: reachable on that channel alone, inside the window their message opened."""
    return Recipient(
        line_user_id=chat_user if channel == "line" else None,
        instagram_id=chat_user if channel == "instagram" else None,
        talktalk_id=chat_user if channel == "talktalk" else None,
        instagram_window_until=now + datetime.timedelta(hours=24) if channel == "instagram" else None,
        consents=frozenset({Channel(channel)}),
        locale=locale,  # type: ignore[arg-type]
    )


# --- Hand-off and inquiries ------------------------------------------------------------------------------------


async def _hand_off(
    session: AsyncSession,
    message: Message,
    answer: Answer,
    *,
    turn_id: uuid.UUID,
    shopper_text: str,
    now: datetime.datetime,
) -> uuid.UUID:
    """Open an inquiry for the mall of the answer's order (Shoa's queue without one) with the conversation, or add
    to the one this messenger user already has open about it."""
    assert answer.hand_off is not None
    part = answer.hand_off.part
    lines = [
        {"from": "shopper", "text": shopper_text, "at": now.isoformat()},
        {"from": "bot", "text": answer.text, "at": now.isoformat()},
    ]
    open_one = await session.scalar(
        sa.select(Inquiry)
        .where(
            Inquiry.channel == message.channel,
            Inquiry.chat_user == message.chat_user,
            Inquiry.status != "closed",
            Inquiry.mall_order_id == part.id if part is not None else Inquiry.mall_id.is_(None),
        )
        .order_by(Inquiry.id.desc())
        .limit(1)
        .with_for_update()
    )
    if open_one is not None:
        open_one.transcript = [*open_one.transcript, *lines]
        open_one.updated_at = now
        return open_one.id
    mall_id = part.mall_id if part is not None else None
    earlier = await session.execute(
        sa.select(Turn.utterance, Turn.answer, Turn.at)
        .where(
            Turn.channel == message.channel,
            Turn.chat_user == message.chat_user,
            Turn.at > now - datetime.timedelta(days=1),
            Turn.intent != "",
            Turn.id != turn_id,
            _shown_to(mall_id),
        )
        .order_by(Turn.id.desc())
        .limit(TRANSCRIPT_TURNS)
    )
    transcript: list[dict[str, Any]] = []
    for utterance, said, at in reversed(earlier.all()):
        transcript += [
            {"from": "shopper", "text": utterance, "at": at.isoformat()},
            {"from": "bot", "text": said, "at": at.isoformat()},
        ]
    inquiry = Inquiry(
        mall_id=mall_id,
        mall_order_id=part.id if part is not None else None,
        order_number=part.order_number if part is not None else None,
        user_id=answer.user_id,
        channel=message.channel,
        chat_user=message.chat_user,
        locale=answer.locale,
        reason=answer.hand_off.reason,
        status="open",
        transcript=[*transcript, *lines],
        created_at=now,
        updated_at=now,
    )
    session.add(inquiry)
    await session.flush()
    return inquiry.id


def read_cursor(cursor: str) -> uuid.UUID:
    """The inquiry a page's ``next_cursor`` names."""
    try:
        return uuid_module.UUID(cursor)
    except ValueError:
        msg = "cursor is not one this API gave out; start again without it"
        raise InvalidCursorError(msg, field="cursor") from None


def _shown_to(mall_id: uuid.UUID | None) -> sa.ColumnElement[bool]:
    """The turns an inquiry's transcript may carry: for a mall, those about its own mall-orders and the ones about
    no order at all (greetings, asking for a person), never a turn that shows another mall's order; for Shoa's
    own team, all of them."""
    if mall_id is None:
        return sa.true()
    return sa.or_(Turn.mall_id == mall_id, sa.and_(Turn.mall_id.is_(None), Turn.intent.in_(("unknown", "human_agent"))))


async def inquiries(
    session: AsyncSession,
    *,
    mall_id: uuid.UUID | None,
    status: str | None,
    after: uuid.UUID | None,
    limit: int,
) -> InquiryPage:
    """A mall's inquiries (Shoa's own queue for ``mall_id`` None), newest first, a page at a time."""
    query = sa.select(Inquiry).where(Inquiry.mall_id == mall_id if mall_id is not None else Inquiry.mall_id.is_(None))
    if status is not None:
        query = query.where(Inquiry.status == status)
    if after is not None:
        query = query.where(Inquiry.id < after)
    found = list(await session.scalars(query.order_by(Inquiry.id.desc()).limit(limit + 1)))
    page = found[:limit]
    replies = await _replies(session, [inquiry.id for inquiry in page])
    return InquiryPage(
        items=[_inquiry_out(inquiry, replies.get(inquiry.id, [])) for inquiry in page],
        next_cursor=str(page[-1].id) if len(found) > limit else None,
    )


async def inquiry(session: AsyncSession, inquiry_id: uuid.UUID, *, mall_id: uuid.UUID | None) -> InquiryOut:
    found = await _inquiry(session, inquiry_id, mall_id=mall_id)
    replies = await _replies(session, [found.id])
    return _inquiry_out(found, replies.get(found.id, []))


async def reply(
    session: AsyncSession,
    outbox: Outbox,
    *,
    inquiry_id: uuid.UUID,
    mall_id: uuid.UUID | None,
    sender: str,
    text: str,
    idempotency_key: str | None,
    now: datetime.datetime,
) -> tuple[InquiryOut, bool]:
    """Answer an inquiry: the text goes to the shopper on the messenger they asked on (KakaoTalk: by AlimTalk to
    their account's phone), through notify. The same idempotency key again answers with the first reply and sends
    nothing more; with another text it is refused. Whether a reply was written."""
    found = await _inquiry(session, inquiry_id, mall_id=mall_id, lock=True)
    if idempotency_key is not None:
        earlier = await session.scalar(
            sa.select(InquiryReply).where(
                InquiryReply.inquiry_id == found.id, InquiryReply.idempotency_key == idempotency_key
            )
        )
        if earlier is not None:
            if earlier.text != text:
                raise ReplyKeyReusedError("this Idempotency-Key was used for another reply to this inquiry")
            return await inquiry(session, found.id, mall_id=mall_id), False
    if found.status == "closed":
        raise InquiryClosedError("this inquiry is closed; a closed inquiry takes no more replies")
    reply_id = uuid7()
    to = await _reply_recipient(session, found, now=now)
    message_id = None
    if to is not None:
        enqueued = await outbox.enqueue(
            session,
            OutgoingMessage(
                event="inquiry_answered",
                idempotency_key=f"inquiry-reply:{reply_id}",
                parameters={"sender": sender[:50], "reply": text},
                **to,
                locale=found.locale,  # type: ignore[arg-type]
            ),
            now=now,
        )
        message_id = enqueued.message_id
    author = "mall" if mall_id is not None else "shoa"
    session.add(
        InquiryReply(
            id=reply_id,
            inquiry_id=found.id,
            author=author,
            text=text,
            idempotency_key=idempotency_key,
            message_id=message_id,
            shown_at=None if to is None else now,
            created_at=now,
        )
    )
    found.status = "answered"
    found.updated_at = now
    found.transcript = [*found.transcript, {"from": author, "text": text, "at": now.isoformat()}]
    await session.flush()
    return await inquiry(session, found.id, mall_id=mall_id), True


async def close(
    session: AsyncSession, inquiry_id: uuid.UUID, *, mall_id: uuid.UUID | None, now: datetime.datetime
) -> InquiryOut:
    """Close an inquiry (closing a closed one changes nothing)."""
    found = await _inquiry(session, inquiry_id, mall_id=mall_id, lock=True)
    if found.status != "closed":
        found.status, found.closed_at, found.updated_at = "closed", now, now
        await session.flush()
    return await inquiry(session, found.id, mall_id=mall_id)


async def _reply_recipient(session: AsyncSession, found: Inquiry, *, now: datetime.datetime) -> dict[str, Any] | None:
    """Where a reply goes: back on the chat channel it came from while that channel may carry it; else (KakaoTalk,
    an Instagram window closed) to the shopper's account, by its routing (AlimTalk first). None for a KakaoTalk
    user with no account known: a skill cannot message first, so the bot shows the reply at their next message."""
    if found.channel in {"line", "talktalk", "instagram"}:
        until = await notify_service.reply_window_until(
            session, channel=Channel(found.channel), address=found.chat_user
        )
        if found.channel != "instagram" or (until is not None and until > now):
            recipient = _chat_recipient(found.channel, found.chat_user, now=now, locale=found.locale)
            if found.channel == "instagram":
                recipient = Recipient(
                    instagram_id=found.chat_user,
                    instagram_window_until=until,
                    consents=frozenset({Channel.INSTAGRAM}),
                    locale=recipient.locale,
                )
            return {"recipient": recipient}
    if found.user_id is not None:
        return {"user_id": found.user_id}
    if found.channel == "kakao":
        return None
    return {"recipient": Recipient(locale=found.locale)}  # type: ignore[arg-type] # recorded as unreachable


async def _inquiry(
    session: AsyncSession, inquiry_id: uuid.UUID, *, mall_id: uuid.UUID | None, lock: bool = False
) -> Inquiry:
    query = sa.select(Inquiry).where(
        Inquiry.id == inquiry_id, Inquiry.mall_id == mall_id if mall_id is not None else Inquiry.mall_id.is_(None)
    )
    found = await session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise InquiryNotFoundError("there is no inquiry with this id for you")
    return found


async def _replies(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[InquiryReply]]:
    replies: dict[uuid.UUID, list[InquiryReply]] = {}
    if ids:
        for found in await session.scalars(
            sa.select(InquiryReply).where(InquiryReply.inquiry_id.in_(ids)).order_by(InquiryReply.id)
        ):
            replies.setdefault(found.inquiry_id, []).append(found)
    return replies


def _inquiry_out(found: Inquiry, replies: list[InquiryReply]) -> InquiryOut:
    return InquiryOut(
        id=found.id,
        status=found.status,
        reason=found.reason,
        channel=found.channel,
        locale=found.locale,
        order_number=found.order_number,
        mall_order_id=found.mall_order_id,
        created_at=found.created_at,
        updated_at=found.updated_at,
        closed_at=found.closed_at,
        transcript=[
            TranscriptLine(from_=line["from"], text=line["text"], at=datetime.datetime.fromisoformat(line["at"]))
            for line in found.transcript
        ],
        replies=[
            InquiryReplyOut(id=r.id, text=r.text, created_at=r.created_at, message_id=r.message_id) for r in replies
        ],
    )
