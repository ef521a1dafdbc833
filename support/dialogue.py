"""The conversation: one shopper message in, the bot's answer out, with whatever it did on the way.

A message is first read as the answer to the question the bot asked, if it asked one (an order number, the
phone's last four digits, a choice among numbered orders, items or options, yes or no); a message that is not
such an answer but asks for something else starts that instead. Otherwise its intent (:mod:`support.intents`)
decides:

- Every intent about an order needs the asker to be its shopper: a linked messenger user is; anyone else is
  asked for the order number and the last 4 digits of the phone number on it, and nothing about an order is
  said before they match. Wrong answers count towards a lock (:mod:`support.state`).
- The order is the one the conversation is about, the only one that fits, or the shopper's choice among their
  recent mall-orders, offered as numbered quick replies.
- ``track_delivery``, ``deposit_info`` and ``refund_status`` answer from the order data. ``cancel_order``,
  ``return_request`` and ``exchange`` are checked against the orders' rules first (a refusal says why and hands
  the question to the mall), then confirmed with a yes/no question, and only a yes moves the order, through
  :mod:`orders.service` as the API does. ``change_address`` goes to the mall while the parcel has not left.
- ``human_agent``, a second message in a row the bot did not understand, and an action the rules refuse hand
  the conversation to people: the mall of its order, or Shoa's own queue (:class:`HandOff`).
"""

from __future__ import annotations

import datetime
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from orders import service as order_service
from orders.carriers import CARRIERS
from orders.errors import OrderError
from orders.lifecycle import BEFORE_SHIPPING, MOVES
from orders.models import Actor, MallOrderStatus
from orders.schemas import AfterSaleIn, AfterSaleLineIn
from support import lookup
from support.intents import Intent
from support.state import Conversation, Pending, Saved
from support.texts import MENU, Locale, menu, moment, say, state_name, won

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from orders.service import Context
    from support.intents import IntentClassifier
    from support.lookup import Part
    from support.state import StateStore

S = MallOrderStatus
MAX_CHOICES = 5
"""Orders, items or options offered at once (Kakao's list card holds five)."""
ORDER_INTENTS = frozenset(
    {
        Intent.TRACK_DELIVERY,
        Intent.CANCEL_ORDER,
        Intent.RETURN_REQUEST,
        Intent.REFUND_STATUS,
        Intent.EXCHANGE,
        Intent.DEPOSIT_INFO,
        Intent.CHANGE_ADDRESS,
    }
)
_MENU_INTENTS = (
    Intent.TRACK_DELIVERY,
    Intent.CANCEL_ORDER,
    Intent.RETURN_REQUEST,
    Intent.EXCHANGE,
    Intent.REFUND_STATUS,
    Intent.DEPOSIT_INFO,
    Intent.CHANGE_ADDRESS,
    Intent.HUMAN_AGENT,
)
MENU_LABELS: dict[str, Intent] = {
    label.casefold(): intent for labels, intent in zip(MENU, _MENU_INTENTS, strict=True) for label in labels
}
"""A tapped menu quick reply is its intent, whatever the classifier would make of two words."""
_YES = re.compile(
    r"^(?:예|네|넵|넹|응|ㅇㅇ|ㅇㅋ|좋아요|좋아|그래요|해주세요|해 주세요|맞아요|はい|お願いします"
    r"|ok|okay|yes|y|sure)[.!~ ]*$"
)
_NO = re.compile(
    r"^(?:아니요|아니오|아니|아뇨|ㄴㄴ|싫어요|안할래요|안 할래요|됐어요|いいえ|やめます|no|n|nope)[.!~ ]*$"
)
_CHOICE = re.compile(r"^\s*(\d{1,2})\s*(?:번|\.|\)|番)?")
_ADDRESS = re.compile(
    r"[가-힣]\d*(?:로|길)\s*\d+"  # a road address: 테헤란로 123, 양화로7길 5
    r"|[가-힣][동리]\s*\d+-\d+"  # a lot number: 역삼동 123-45
    r"|\d+동\s*\d+호"  # a flat: 101동 1203호
    r"|[都道府県].*?[市区町村郡]"  # 東京都渋谷区…
)
"""Something in a message that is part of an address (Korean or Japanese)."""
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
_LATIN_WORD = re.compile(r"[a-zA-Z]{2,}")
_DEFAULT_LOCALE: dict[str, Locale] = {"line": "ja"}
_PER_ORDER = frozenset({Intent.DEPOSIT_INFO, Intent.TRACK_DELIVERY})
"""Intents answered for a whole order (all its malls' parts) rather than one mall-order."""
_SMALL_TALK = {"greeting": "menu", "thanks": "welcome"}
_GREETINGS = re.compile(r"^(?:안녕|하이|hi|hello|hey|こんにちは|こんばんは|おはよう)")
_THANKS = re.compile(r"(?:감사|고마워|고맙|땡큐|thank|thx|ありがと)")
"""Where a message says nothing of its language (a number, an emoji): Shoa's LINE account serves Japan."""
_UNPAID = frozenset({S.AWAITING_PAYMENT.value, S.AWAITING_DEPOSIT.value})
_ACTION_NAMES = {Intent.CANCEL_ORDER: "cancel", Intent.RETURN_REQUEST: "return", Intent.EXCHANGE: "exchange"}
_WHAT = {Intent.CANCEL_ORDER: "what_cancel", Intent.RETURN_REQUEST: "what_return", Intent.EXCHANGE: "what_exchange"}


@dataclass(frozen=True, kw_only=True)
class Message:
    """One shopper message, as a channel's webhook read it."""

    channel: str
    chat_user: str
    text: str
    event_id: str | None = None
    app_user_id: str | None = None
    """Kakao: the Kakao Login id of a user who logged in to Shoa with Kakao."""


@dataclass(frozen=True, kw_only=True)
class Choice:
    """A numbered choice, for channels that show them as a list (Kakao's list card)."""

    title: str
    description: str
    reply: str
    """The message a tap sends."""


@dataclass(frozen=True, kw_only=True)
class HandOff:
    reason: str
    """``asked``, ``not_understood``, ``refused``, ``change_address``."""
    part: Part | None


@dataclass(kw_only=True)
class Answer:
    text: str
    intent: Intent
    locale: Locale
    quick_replies: tuple[str, ...] = ()
    choices: tuple[Choice, ...] = ()
    part: Part | None = None
    """The mall-order the message was about, once known: the turn is stored for its mall."""
    actions: list[dict[str, Any]] = field(default_factory=list)
    hand_off: HandOff | None = None
    private: bool = False
    """The message is an identity proof or an address: stored masked."""
    user_id: uuid.UUID | None = None
    for_the_mall: bool = False
    """The message (a new address) goes to the mall's inquiry as written, though not into the turn."""
    replies_may_wait: bool = False
    """People may have answered this messenger user lately (see ``StateStore.expect_reply``)."""


@dataclass(frozen=True, kw_only=True)
class Bot:
    classifier: IntentClassifier
    states: StateStore
    order_context: Callable[[], Context]
    """A fresh context (gateway, messages, now) for each action."""
    return_days: int = 7

    async def answer(
        self, session: AsyncSession, message: Message, *, turn_id: uuid.UUID, now: datetime.datetime
    ) -> Answer:
        """Answer ``message``, whose turn (``turn_id``) the caller commits with whatever the answer did."""
        snapshot = await self.states.load(message.channel, message.chat_user)
        saved = snapshot.saved
        committed, linked = await lookup.conversation_facts(
            session,
            channel=message.channel,
            chat_user=message.chat_user,
            app_user_id=message.app_user_id,
            turn_id=saved.turn if saved is not None else None,
        )
        before = None
        if saved is not None:
            before = saved.now if committed else saved.before
        conversation = msgspec.json.decode(msgspec.json.encode(before), type=Conversation) if before else None
        conversation = conversation or Conversation(started_at=now)
        locale = (
            _locale_of(message.text) or _as_locale(conversation.locale) or _DEFAULT_LOCALE.get(message.channel, "ko")
        )
        conversation.locale = locale
        if linked is not None and not (conversation.linked and conversation.user_id == linked):
            conversation.user_id, conversation.linked, conversation.proven_orders = linked, True, []
        elif linked is None and conversation.linked:
            conversation.user_id, conversation.linked, conversation.mall_order_id = None, False, None
            conversation.pending = None
        turn = _Turn(self, session, conversation, message, locale, locked=snapshot.locked)
        answer = await turn.run()
        answer.user_id = conversation.user_id
        answer.replies_may_wait = snapshot.waiting_for_reply
        conversation.messages += 1
        await self.states.save(message.channel, message.chat_user, Saved(turn=turn_id, now=conversation, before=before))
        return answer


class _Turn:
    """One message's handling; holds what every step needs."""

    def __init__(
        self,
        bot: Bot,
        session: AsyncSession,
        conversation: Conversation,
        message: Message,
        locale: Locale,
        *,
        locked: bool,
    ) -> None:
        self.bot, self.session, self.conversation, self.message, self.locale = (
            bot,
            session,
            conversation,
            message,
            locale,
        )
        self.locked = locked
        """Whether the identity proof is locked for this messenger user (as Redis said when the message came)."""
        self.text = unicodedata.normalize("NFKC", message.text).strip()

    def say(self, key: str, **fields: object) -> str:
        return say(key, self.locale, **fields)

    def _summary(self, lines: Sequence[lookup.Line]) -> str:
        """What was bought, as a shopper names it: the first item, and how many more."""
        if not lines:
            return "-"
        first = lines[0].name[:30]
        return first if len(lines) == 1 else self.say("and_more", first=first, more=len(lines) - 1)

    def reply(self, text: str, intent: Intent, **more: Any) -> Answer:
        return Answer(text=text, intent=intent, locale=self.locale, **more)

    # -- reading the message ---------------------------------------------------------------------------------

    async def run(self) -> Answer:
        pending = self.conversation.pending
        if pending is not None:
            answered = await self._answer_pending(pending)
            if answered is not None:
                return answered
        intent = self._intent()
        number = lookup.order_number_in(self.text)
        if number is not None:  # an order named: it is what the message is about (its status, unless asked else)
            self.conversation.not_understood = 0
            return await self._about_order(number, Intent.TRACK_DELIVERY if intent is Intent.UNKNOWN else intent)
        if intent is Intent.UNKNOWN:
            small = _SMALL_TALK.get(_small_talk(self.text))
            if small is not None:  # a greeting or thanks is understood: it answers with the menu, hands nothing off
                self.conversation.pending = None
                return self.reply(self.say(small), Intent.UNKNOWN, quick_replies=menu(self.locale))
            return await self._not_understood()
        self.conversation.not_understood = 0
        self.conversation.pending = None
        return await self._start(intent)

    async def _about_order(self, number: str, intent: Intent) -> Answer:
        """A message naming an order: one the asker may see is answered at once, another needs its proof."""
        self.conversation.pending = None
        mine = [part for part in await self._parts() if part.order_number == number] if self._identified() else []
        if not mine:
            return await self._ask_digits(intent, number)
        self.conversation.mall_order_id = None
        return await self._start(intent, only_order=mine[0].order_id)

    def _identified(self) -> bool:
        return self.conversation.user_id is not None

    def _intent(self) -> Intent:
        tapped = MENU_LABELS.get(self.text.casefold())
        return tapped if tapped is not None else self.bot.classifier.classify(self.text).intent

    def _new_intent(self) -> bool:
        """Whether the message asks for something of its own, rather than answering the question asked."""
        return self._intent() is not Intent.UNKNOWN

    async def _not_understood(self) -> Answer:
        conversation = self.conversation
        conversation.pending = None
        if conversation.messages == 0:  # a conversation's opening (a greeting, mostly) is answered with the menu
            return self.reply(self.say("menu"), Intent.UNKNOWN, quick_replies=menu(self.locale))
        conversation.not_understood += 1
        if conversation.not_understood >= 2:
            conversation.not_understood = 0
            part = await self._focus()
            return self._hand_off("not_understood", part, Intent.UNKNOWN)
        return self.reply(self.say("not_understood"), Intent.UNKNOWN, quick_replies=menu(self.locale))

    # -- answers to the bot's questions ----------------------------------------------------------------------

    async def _answer_pending(self, pending: Pending) -> Answer | None:
        """The message as the answer to the bot's question; None when it asks for something else instead."""
        if pending.kind not in {"order_number", "phone_digits"} and lookup.order_number_in(self.text):
            return None  # an order named in the middle of a question: the message is about that order
        handlers = {
            "order_number": self._answer_order_number,
            "phone_digits": self._check_proof,
            "confirm": self._confirm,
            "address": self._answer_address,
        }
        return await handlers.get(pending.kind, self._answer_choice)(pending, Intent(pending.intent))

    async def _answer_order_number(self, pending: Pending, intent: Intent) -> Answer | None:
        number = lookup.order_number_in(self.text)
        if number is None and intent is Intent.HUMAN_AGENT and self._none_of_orders():
            self.conversation.pending = None
            return self._hand_off("asked", None, Intent.HUMAN_AGENT)
        if number is None:
            if self._new_intent():
                return None
            return await self._locked(intent, pending) or self.reply(self.say("ask_order_number"), intent)
        return await self._ask_digits(intent, number)

    async def _answer_address(self, pending: Pending, intent: Intent) -> Answer | None:
        # An address reads as a request to the classifier ("…로 바꿔주세요"): one that holds an address is the
        # answer, so that it goes to the mall alone and never into a stored turn.
        if self._new_intent() and _ADDRESS.search(self.text) is None:
            return None
        self.conversation.pending = None
        part = await self._part(pending.mall_order_id)
        answer = self._hand_off("change_address", part, intent)
        answer.text, answer.private, answer.for_the_mall = self.say("address_received"), True, True
        return answer

    async def _answer_choice(self, pending: Pending, intent: Intent) -> Answer | None:  # noqa: PLR0911 - per choice
        picked = self._pick(pending)
        if picked is None:
            if pending.kind == "choose_order" and self._none_of_orders():
                self.conversation.pending = None
                return self._hand_off("asked", None, Intent.HUMAN_AGENT)
            if self._new_intent():
                return None
            return self.reply(pending.prompt or self.say(pending.kind), intent,
                              quick_replies=_numbers(len(pending.options)))  # fmt: skip
        self.conversation.pending = None
        if pending.kind == "choose_order":
            part = await self._part(uuid.UUID(picked))
            return await self._act(intent, part) if part is not None else await self._start(intent)
        part = await self._part(pending.mall_order_id)
        if part is None:
            return await self._start(intent)
        if pending.kind == "choose_item":
            lines = [line for line in part.lines if picked in {"all", str(line.id)}]
            return await self._after_items(intent, part, lines)
        return await self._confirm_exchange(part, pending.line_ids, uuid.UUID(picked))

    def _pick(self, pending: Pending) -> str | None:
        """The choice a message names: by its number, or by its label (``L`` for the option ``블랙 / L``)."""
        options = pending.options
        found = _CHOICE.match(self.text)
        if found is not None and 1 <= int(found[1]) <= len(options):
            return options[int(found[1]) - 1]
        said = self.text.casefold().strip()
        if not said:
            return None
        named = [option for option, label in zip(options, pending.labels, strict=False)
                 if said == label.casefold() or said in re.split(r"\s*/\s*|\s+", label.casefold())]  # fmt: skip
        return named[0] if len(named) == 1 else None

    def _none_of_orders(self) -> bool:
        return self.text.casefold() == self.say("not_about_order").casefold()

    async def _ask_digits(self, intent: Intent, number: str) -> Answer:
        pending = Pending(kind="phone_digits", intent=intent.value, order_number=number)
        locked = await self._locked(intent, pending)
        if locked is not None:
            return locked
        self.conversation.pending = pending
        return self.reply(self.say("ask_phone_digits"), intent)

    async def _locked(self, intent: Intent, pending: Pending, *, private: bool = False) -> Answer | None:
        """The lock's answer while the proof is locked, None otherwise. The proof's question stays asked, so that
        what the shopper sends for it meanwhile (the digits, mostly) is read as its answer, refused and kept masked,
        rather than as a message of its own."""
        states = self.bot.states
        if not self.locked:
            return None
        self.conversation.pending = pending
        return self.reply(self.say("locked", minutes=states.lock_minutes), intent, private=private)

    async def _check_proof(self, pending: Pending, intent: Intent) -> Answer:  # noqa: PLR0911 - per outcome
        states, channel, chat_user = self.bot.states, self.message.channel, self.message.chat_user
        digits = lookup.digits_in(self.text)
        number = lookup.order_number_in(self.text)
        if digits is None and number is not None:  # another order number: the digits are asked for that one
            return await self._ask_digits(intent, number)
        if digits is None and self._new_intent():
            return await self._start(self._intent())
        locked = await self._locked(intent, pending, private=True)
        if locked is not None:
            return locked
        if digits is None:
            return self.reply(self.say("ask_phone_digits"), intent, private=True)
        order = await lookup.prove(self.session, order_number=pending.order_number or "", digits=digits)
        if order is None:
            left = await states.failed_proof(channel, chat_user)
            self.locked = left == 0
            self.conversation.pending = Pending(kind="order_number", intent=intent.value)
            if left == 0:
                return self.reply(self.say("locked", minutes=states.lock_minutes), intent, private=True)
            text = f"{self.say('proof_failed', left=left)}\n{self.say('ask_order_number')}"
            return self.reply(text, intent, private=True)
        await states.proved(channel, chat_user)
        conversation = self.conversation
        if conversation.user_id not in {None, order.user_id}:
            conversation.linked = False  # another account's order: this conversation now speaks for that one
            conversation.proven_orders = []
        conversation.user_id = order.user_id
        conversation.proven_orders = [*conversation.proven_orders, order.id]
        conversation.mall_order_id = None
        conversation.pending = None
        answer = await self._start(intent, only_order=order.id)
        answer.text = f"{self.say('proven', number=order.number)}\n\n{answer.text}"
        answer.private = True
        return answer

    # -- starting what the shopper asked for -----------------------------------------------------------------

    async def _start(self, intent: Intent, *, only_order: uuid.UUID | None = None) -> Answer:  # noqa: PLR0911
        conversation = self.conversation
        if intent is Intent.HUMAN_AGENT:
            return await self._human(only_order)
        if conversation.user_id is None:
            pending = Pending(kind="order_number", intent=intent.value)
            locked = await self._locked(intent, pending)
            if locked is not None:
                return locked
            conversation.pending = pending
            return self.reply(self.say("ask_order_number"), intent)
        parts = await self._parts()
        if only_order is not None:
            parts = [part for part in parts if part.order_id == only_order]
        if not parts:
            conversation.pending = Pending(kind="order_number", intent=intent.value)
            return self.reply(self.say("no_orders"), intent)
        if intent is Intent.REFUND_STATUS:
            return self._refunds(parts)
        fitting = [part for part in parts if _fits(intent, part)] or parts
        focus = next((part for part in fitting if part.id == conversation.mall_order_id), None)
        if focus is None and len(fitting) == 1:
            focus = fitting[0]
        if focus is None and intent in _PER_ORDER and len({part.order_id for part in fitting}) == 1:
            focus = fitting[0]  # one virtual account pays every part of an order; tracking shows every part
        if focus is not None:
            return await self._act(intent, focus)
        return self._choose_order(intent, fitting[:MAX_CHOICES])

    async def _human(self, only_order: uuid.UUID | None = None) -> Answer:
        focus = await self._focus()
        if only_order is not None:  # the order just proven: its mall (or, for several, the shopper's choice)
            parts = [part for part in await self._parts() if part.order_id == only_order]
            focus = parts[0] if len(parts) == 1 else None
            if focus is None and parts:
                return self._choose_order(Intent.HUMAN_AGENT, parts[:MAX_CHOICES])
        if focus is not None:
            return self._hand_off("asked", focus, Intent.HUMAN_AGENT)
        if not self._identified():
            # The mall of the order can answer best: ask which order, or whether it is about none.
            self.conversation.pending = Pending(kind="order_number", intent=Intent.HUMAN_AGENT.value)
            return self.reply(self.say("ask_order_number_or_none"), Intent.HUMAN_AGENT,
                              quick_replies=(self.say("not_about_order"),))  # fmt: skip
        parts = await self._parts()
        if not parts:
            return self._hand_off("asked", None, Intent.HUMAN_AGENT)
        answer = self._choose_order(Intent.HUMAN_AGENT, parts[:MAX_CHOICES], key="choose_order_or_none")
        answer.quick_replies = (*answer.quick_replies, self.say("not_about_order"))
        return answer

    def _choose_order(self, intent: Intent, parts: Sequence[Part], *, key: str = "choose_order") -> Answer:
        rows = [
            f"{n}. {part.order_number} · {self._summary(part.lines)} · {part.mall_name} "
            f"({state_name(part.status, self.locale)})"
            for n, part in enumerate(parts, start=1)
        ]
        self.conversation.pending = Pending(
            kind="choose_order",
            intent=intent.value,
            options=[str(part.id) for part in parts],
            prompt="\n".join([self.say(key), *rows]),
        )
        choices = tuple(
            Choice(
                title=f"{n}. {self._summary(part.lines)}",
                description=f"{part.mall_name} · {state_name(part.status, self.locale)}",
                reply=str(n),
            )
            for n, part in enumerate(parts, start=1)
        )
        return self.reply(
            "\n".join([self.say(key), *rows]), intent, quick_replies=_numbers(len(parts)), choices=choices
        )

    # -- acting on one mall-order ----------------------------------------------------------------------------

    async def _act(self, intent: Intent, part: Part) -> Answer:  # noqa: PLR0911 - one answer per intent
        self.conversation.mall_order_id = part.id
        if intent is Intent.TRACK_DELIVERY:
            siblings = [other for other in await self._parts() if other.order_id == part.order_id and other != part]
            text = "\n\n".join(self._tracking(each) for each in [part, *siblings])
            return self.reply(text, intent, part=part)
        if intent is Intent.DEPOSIT_INFO:
            return self.reply(self._deposit(part), intent, part=part)
        if intent is Intent.REFUND_STATUS:
            return self._refunds([part])
        if intent is Intent.CHANGE_ADDRESS:
            return self._change_address(part)
        if intent is Intent.HUMAN_AGENT:
            return self._hand_off("asked", part, intent)
        why = self._refusal(intent, part)
        if why is not None:
            answer = self._hand_off("refused", part, intent)
            answer.text = self.say("refused", what=self.say(_WHAT[intent]), why=why)
            return answer
        if intent is Intent.CANCEL_ORDER:
            return await self._confirm_cancel(part)
        if len(part.lines) == 1:
            return await self._after_items(intent, part, part.lines)
        options = [*(str(line.id) for line in part.lines[:MAX_CHOICES]), "all"]
        rows = [
            f"{n}. {line.name} {line.options} x{line.quantity}".rstrip()
            for n, line in enumerate(part.lines[:MAX_CHOICES], start=1)
        ]
        rows.append(f"{len(rows) + 1}. {self.say('all_items')}")
        prompt = "\n".join([self.say("choose_item"), *rows])
        self.conversation.pending = Pending(
            kind="choose_item", intent=intent.value, mall_order_id=part.id, options=options, prompt=prompt,
            labels=[*(line.name for line in part.lines[:MAX_CHOICES]), self.say("all_items")],
        )  # fmt: skip
        return self.reply(prompt, intent, part=part, quick_replies=_numbers(len(rows)))

    def _refusal(self, intent: Intent, part: Part) -> str | None:
        """Why the orders' rules would refuse the action now, in the shopper's words; None when they allow it."""
        status = MallOrderStatus(part.status)
        state = state_name(part.status, self.locale)
        if intent is Intent.CANCEL_ORDER:
            if status in BEFORE_SHIPPING:
                return None
            return {"ko": f"이미 {state} 상태예요.", "ja": f"すでに{state}です。", "en": f"it is already {state}."}[
                self.locale
            ]
        target = S.RETURN_REQUESTED if intent is Intent.RETURN_REQUEST else S.EXCHANGE_REQUESTED
        if target not in MOVES[status] and part.delivered_at is not None:  # delivered once, moved on since
            return {
                "ko": f"이미 {state} 상태라 신청할 수 없어요.",
                "ja": f"すでに{state}のため、お申し込みできません。",
                "en": f"it is already {state}.",
            }[self.locale]
        if target not in MOVES[status]:
            return {
                "ko": f"지금 {state} 상태예요. 배송 완료 후에 신청할 수 있어요.",
                "ja": f"現在{state}です。配達完了後にお申し込みいただけます。",
                "en": f"it is {state}; returns and exchanges open once it is delivered.",
            }[self.locale]
        delivered = part.delivered_at
        if delivered is None or self.bot.order_context().now - delivered > datetime.timedelta(
            days=self.bot.return_days
        ):
            days = self.bot.return_days
            return {
                "ko": f"배송 완료 후 {days}일이 지났어요.",
                "ja": f"配達完了から{days}日を過ぎています。",
                "en": f"it was delivered more than {days} days ago.",
            }[self.locale]
        return None

    async def _confirm_cancel(self, part: Part) -> Answer:
        paid = part.status in {S.PAID.value, S.PREPARING.value}
        amount = part.items_amount + part.shipping_fee - part.refunded_amount
        refund = self.say("refund_note", amount=won(amount)) if paid and amount > 0 else ""
        text = self.say("confirm_cancel", summary=self._summary(part.lines), mall=part.mall_name, refund=refund)
        whole = False
        if part.status in _UNPAID:
            # One payment is open for the whole order (a virtual account takes one amount): it is cancelled whole.
            siblings = [
                other for other in await self._parts() if other.order_id == part.order_id and other.id != part.id
            ]
            if any(other.status in _UNPAID for other in siblings):
                whole = True
                malls = ", ".join(dict.fromkeys([part.mall_name, *(other.mall_name for other in siblings)]))
                text = self.say("confirm_cancel_whole", number=part.order_number, malls=malls)
        self.conversation.pending = Pending(kind="confirm", intent=Intent.CANCEL_ORDER.value, mall_order_id=part.id,
                                            whole_order=whole)  # fmt: skip
        return self.reply(text, Intent.CANCEL_ORDER, part=part, quick_replies=self._yes_no())

    async def _after_items(self, intent: Intent, part: Part, lines: Sequence[lookup.Line]) -> Answer:
        line_ids = [line.id for line in lines]
        if intent is Intent.RETURN_REQUEST:
            amount = sum(line.unit_price * line.quantity for line in lines)
            summary = self._summary(lines)
            self.conversation.pending = Pending(
                kind="confirm", intent=intent.value, mall_order_id=part.id, line_ids=line_ids
            )
            text = self.say("confirm_return", summary=summary, mall=part.mall_name, amount=won(amount))
            return self.reply(text, intent, part=part, quick_replies=self._yes_no())
        line = lines[0]  # an exchange is of one item: another size or colour of it
        options = await lookup.other_options(self.session, line)
        if not options:
            answer = self._hand_off("refused", part, intent)
            answer.text = self.say("no_other_option")
            return answer
        values = [str(variant_id) for variant_id, _ in options[:MAX_CHOICES]]
        rows = [f"{n}. {name}" for n, (_, name) in enumerate(options[:MAX_CHOICES], start=1)]
        prompt = "\n".join([self.say("choose_option"), *rows])
        self.conversation.pending = Pending(
            kind="choose_option", intent=intent.value, mall_order_id=part.id, line_ids=[line.id], options=values,
            prompt=prompt, labels=[name for _, name in options[:MAX_CHOICES]],
        )  # fmt: skip
        return self.reply(prompt, intent, part=part, quick_replies=_numbers(len(rows)))

    async def _confirm_exchange(self, part: Part, line_ids: Sequence[uuid.UUID], variant_id: uuid.UUID) -> Answer:
        lines = [line for line in part.lines if line.id in line_ids]
        options = dict(await lookup.other_options(self.session, lines[0])) if lines else {}
        if variant_id not in options:
            return await self._act(Intent.EXCHANGE, part)  # sold out meanwhile: offer what is left
        self.conversation.pending = Pending(
            kind="confirm",
            intent=Intent.EXCHANGE.value,
            mall_order_id=part.id,
            line_ids=list(line_ids),
            variant_id=variant_id,
        )
        text = self.say(
            "confirm_exchange", summary=self._summary(lines), mall=part.mall_name, option=options[variant_id]
        )
        return self.reply(text, Intent.EXCHANGE, part=part, quick_replies=self._yes_no())

    def _yes_no(self) -> tuple[str, str]:
        return self.say("yes"), self.say("no")

    async def _confirm(self, pending: Pending, intent: Intent) -> Answer | None:
        folded = self.text.casefold()
        if folded in {self.say("no").casefold()} or _NO.match(folded):
            self.conversation.pending = None
            return self.reply(
                self.say("dropped"),
                intent,
                quick_replies=menu(self.locale),
                actions=[{"action": _ACTION_NAMES.get(intent, intent.value), "result": "declined"}],
            )
        if not (folded in {self.say("yes").casefold()} or _YES.match(folded)):
            if self._new_intent():
                self.conversation.pending = None
                return None
            return self.reply(self.say("ask_yes_no"), intent, quick_replies=self._yes_no())
        self.conversation.pending = None
        part = await self._part(pending.mall_order_id)
        if part is None:
            return await self._start(intent)
        return await self._execute(intent, part, pending)

    async def _execute(self, intent: Intent, part: Part, pending: Pending) -> Answer:
        """The confirmed action, through the orders service with its rules; a refusal hands the question over."""
        context = self.bot.order_context()
        action: dict[str, Any] = {"action": _ACTION_NAMES[intent], "mall_order_id": str(part.id)}
        lines = [line for line in part.lines if line.id in pending.line_ids]
        try:
            async with self.session.begin_nested():
                if intent is Intent.CANCEL_ORDER:
                    await order_service.cancel(
                        self.session,
                        context,
                        order_id=part.order_id,
                        user_id=part.user_id,
                        mall_order_id=None if pending.whole_order else part.id,
                        reason="챗봇에서 취소 요청",
                        actor=Actor.SHOPPER,
                    )
                else:
                    kind = "return" if intent is Intent.RETURN_REQUEST else "exchange"
                    body = AfterSaleIn(
                        mall_order_id=part.id,
                        reason="챗봇에서 반품 신청" if kind == "return" else "챗봇에서 교환 신청",
                        lines=[
                            AfterSaleLineIn(line_id=line.id, quantity=line.quantity, variant_id=pending.variant_id)
                            for line in lines
                        ],
                    )
                    action["after_sale_id"] = str(
                        await order_service.request_after_sale(
                            self.session, context, user_id=part.user_id, order_id=part.order_id, body=body, kind=kind
                        )
                    )
        except OrderError as exc:
            action["result"] = "refused"
            action["why"] = exc.detail
            answer = self._hand_off("refused", part, intent)
            answer.text = self.say("action_failed")  # the rule's own words stay in the turn's actions
            answer.actions = [action]
            return answer
        action["result"] = "done"
        after = await self._part(part.id) or part
        if intent is Intent.CANCEL_ORDER:
            refunded = after.refunded_amount - part.refunded_amount
            refund = self.say("refund_started", amount=won(refunded)) if refunded > 0 else ""
            text = self.say("cancelled", refund=refund)
        elif intent is Intent.RETURN_REQUEST:
            text = self.say("return_requested", amount=won(sum(line.unit_price * line.quantity for line in lines)))
        else:
            text = self.say("exchange_requested")
        return self.reply(text, intent, part=after, actions=[action])

    # -- answers from the order data -------------------------------------------------------------------------

    def _tracking(self, part: Part) -> str:
        state = state_name(part.status, self.locale)
        if part.carrier is None or part.tracking_number is None:
            return self.say("not_shipped", summary=self._summary(part.lines), mall=part.mall_name, state=state)
        carrier = CARRIERS.get(part.carrier)
        link = carrier.link(part.tracking_number) if carrier is not None else ""
        return self.say(
            "tracking",
            summary=self._summary(part.lines),
            mall=part.mall_name,
            state=state,
            carrier=carrier.name if carrier is not None else part.carrier,
            tracking=part.tracking_number,
            link=link,
        )

    def _deposit(self, part: Part) -> str:
        payment = part.payment
        if part.status != S.AWAITING_DEPOSIT.value or payment is None or payment.account_number is None:
            return self.say("no_deposit", state=state_name(part.status, self.locale))
        due = moment(payment.due_at, self.locale) if payment.due_at is not None else "-"
        return self.say(
            "deposit",
            bank=payment.bank or "",
            account=payment.account_number,
            holder=payment.account_holder or "",
            amount=won(payment.amount),
            due=due,
        )

    def _refunds(self, parts: Sequence[Part]) -> Answer:
        shown = parts[:MAX_CHOICES]
        rows = []
        for part in shown:
            pending = self.say("refund_pending", amount=won(part.pending_refund)) if part.pending_refund else ""
            rows.append(
                self.say(
                    "refund_line",
                    summary=self._summary(part.lines),
                    mall=part.mall_name,
                    state=state_name(part.status, self.locale),
                    refunded=won(part.refunded_amount),
                    pending=pending,
                )
            )
        if not any(part.refunded_amount or part.pending_refund for part in shown):
            rows.append(self.say("refund_none"))
        only = shown[0] if len(shown) == 1 else None
        return self.reply("\n".join(rows), Intent.REFUND_STATUS, part=only)

    def _change_address(self, part: Part) -> Answer:
        status = MallOrderStatus(part.status)
        if status in BEFORE_SHIPPING:
            answer = self._hand_off("change_address", part, Intent.CHANGE_ADDRESS)
            answer.text = self.say("address_handed_off", mall=part.mall_name)
            self.conversation.pending = Pending(
                kind="address", intent=Intent.CHANGE_ADDRESS.value, mall_order_id=part.id
            )
            return answer
        if status in {S.SHIPPED, S.DELIVERED} and part.carrier and part.tracking_number:
            carrier = CARRIERS.get(part.carrier)
            link = carrier.link(part.tracking_number) if carrier is not None else part.tracking_number
            name = carrier.name if carrier is not None else part.carrier
            return self.reply(self.say("address_too_late", carrier=name, link=link), Intent.CHANGE_ADDRESS, part=part)
        return self.reply(
            self.say("address_closed", state=state_name(part.status, self.locale)), Intent.CHANGE_ADDRESS, part=part
        )

    # -- hand-off --------------------------------------------------------------------------------------------

    def _hand_off(self, reason: str, part: Part | None, intent: Intent) -> Answer:
        to = part.mall_name if part is not None else self.say("shoa_team")
        # A Kakao skill cannot message first: a shopper with no account known sees the answer at her next message.
        waits = self.message.channel == "kakao" and self.conversation.user_id is None
        text = self.say("handed_off_next_message" if waits else "handed_off", to=to)
        return self.reply(text, intent, part=part, hand_off=HandOff(reason=reason, part=part))

    # -- reading orders --------------------------------------------------------------------------------------

    async def _parts(self) -> list[Part]:
        conversation = self.conversation
        if conversation.linked:
            return await lookup.recent_parts(self.session, user_id=conversation.user_id, order_ids=())
        return await lookup.recent_parts(self.session, user_id=None, order_ids=conversation.proven_orders)

    async def _part(self, mall_order_id: uuid.UUID | None) -> Part | None:
        """A mall-order the asker may see: their account's when linked, else one of the proven orders."""
        if mall_order_id is None:
            return None
        part = await lookup.part_by_id(self.session, mall_order_id)
        conversation = self.conversation
        if part is None:
            return None
        allowed = (
            part.user_id == conversation.user_id if conversation.linked else part.order_id in conversation.proven_orders
        )
        return part if allowed else None

    async def _focus(self) -> Part | None:
        return await self._part(self.conversation.mall_order_id)


def _fits(intent: Intent, part: Part) -> bool:
    """Whether a mall-order is one the intent is likely about, to spare a choice when only one fits."""
    status = MallOrderStatus(part.status)
    if intent is Intent.TRACK_DELIVERY:
        return status in {S.PAID, S.PREPARING, S.SHIPPED, S.EXCHANGE_SHIPPED}
    if intent in {Intent.CANCEL_ORDER, Intent.CHANGE_ADDRESS}:
        return status in BEFORE_SHIPPING
    if intent in {Intent.RETURN_REQUEST, Intent.EXCHANGE}:
        return status is S.DELIVERED
    if intent is Intent.DEPOSIT_INFO:
        return status is S.AWAITING_DEPOSIT
    return True


def _small_talk(text: str) -> str:
    """``greeting``, ``thanks`` or ``""`` for a short message that is only that."""
    folded = re.sub(r"[\W_]+", "", text.casefold())
    if len(folded) > 12:
        return ""
    if _THANKS.search(folded):
        return "thanks"
    return "greeting" if _GREETINGS.match(folded) else ""


def _numbers(count: int) -> tuple[str, ...]:
    return tuple(str(n) for n in range(1, count + 1))


def _locale_of(text: str) -> Locale | None:
    """The language a message is written in, when it shows one (an order number, digits or "ok" do not)."""
    text = lookup.ORDER_NUMBER.sub(" ", text)
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    if any(word.casefold() not in {"ok", "okay"} for word in _LATIN_WORD.findall(text)):
        return "en"
    return None


def _as_locale(value: str) -> Locale | None:
    return value if value in {"ko", "ja", "en"} else None  # type: ignore[return-value]
