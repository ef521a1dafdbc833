"""Advertising (win-back price drops, cart reminders) is carried lawfully (정보통신망법 제50조): only where the shopper
gave marketing consent, never by AlimTalk, each text beginning with the advertising mark, naming Shoa and ending
with a free opt-out; and never between 21:00 and 08:00 Korea time without her night consent: held until 08:00,
not dropped. A wave of thousands is enqueued in a few statements, the same rows as one at a time."""

from __future__ import annotations

import contextlib
import datetime
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from notify.errors import InvalidParametersError, NotifyError, TemplateFileError
from notify.models import Message
from notify.providers.base import Channel, OutcomeKind
from notify.quiet_hours import held_until
from notify.rendering import KOREA, SMS_MAX_BYTES, Templates, sms_bytes
from notify.routing import plan_route
from notify.schemas import Recipient
from notify.service import UNREACHABLE_ADVERTISING, Outbox
from tests.notify.builders import (
    PARAMETERS,
    PHONE,
    TEMPLATES,
    Clock,
    ScriptedProvider,
    attempts,
    dispatcher,
    every_channel,
    outbox,
    outgoing,
    sandbox,
    sandbox_messages,
    sessions,
    stored,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from notify.schemas import Locale

EVERYTHING = frozenset(Channel)
LINE_USER = "U4af4980629d4f3c0a1b2c3d4e5f60718"


def kst(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime.datetime:
    """A moment of December 2026, Korea time."""
    return datetime.datetime(2026, 12, day, hour, minute, second, tzinfo=KOREA)


def shopper(
    advertising: frozenset[Channel] = frozenset({Channel.SMS}),
    *,
    night: bool = False,
    consents: frozenset[Channel] = frozenset({Channel.ALIMTALK, Channel.SMS}),
) -> Recipient:
    """A Korean mobile agreeing to order messages on ``consents`` and to advertising on ``advertising``."""
    return Recipient(phone=PHONE, consents=consents, advertising_consents=advertising, night_advertising=night)


class Directory:
    """The app's recipient lookups, over a dict: how often each is asked, and for whom."""

    def __init__(self, recipients: Mapping[uuid.UUID, Recipient]) -> None:
        self.recipients = dict(recipients)
        self.nobody = uuid.uuid4()
        """A shopper it does not know (an unknown or closed account)."""
        self.one_calls: list[uuid.UUID] = []
        self.many_calls: list[list[uuid.UUID]] = []

    async def one(self, session: AsyncSession, user_id: uuid.UUID) -> Recipient | None:
        self.one_calls.append(user_id)
        return self.recipients.get(user_id)

    async def many(self, session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Recipient]:
        self.many_calls.append(list(user_ids))
        return {user_id: self.recipients[user_id] for user_id in user_ids if user_id in self.recipients}

    def outbox(self, *, batch: bool = True) -> Outbox:
        return Outbox(templates=TEMPLATES, recipients=self.one, recipients_many=self.many if batch else None)


# --- Template files --------------------------------------------------------------------------------------------

GOOD_TEXTS = {
    "ko": "(광고) Shoa 겨울 세일 #{n}\n\n무료 수신거부: #{opt_out_url}",
    "ja": "【広告】Shoa 冬のセール #{n}\n\n配信停止 #{opt_out_url}",
    "en": "(Ad) Shoa winter sale #{n}\n\nUnsubscribe (free): #{opt_out_url}",
}
GOOD_VARIABLES = """
[variables]
n = { type = "text", max_length = 20 }
opt_out_url = { type = "url", max_length = 200 }
"""


def advertising_file(
    texts: Mapping[str, str] | None = None,
    *,
    kind: str = "advertising",
    variables: str = GOOD_VARIABLES,
    alimtalk: bool = False,
) -> str:
    texts = {**GOOD_TEXTS, **(texts or {})}
    return f'kind = "{kind}"\n{variables}' + "\n".join(
        f'[{locale}]\ntitle = "Shoa"\ntext = """{texts[locale]}"""\n'
        + (f'alimtalk = {{ template_code = "SHOA_SALE_{locale.upper()}" }}\n' if alimtalk else "")
        for locale in ("ko", "ja", "en")
    )


def test_an_advertising_file_loads_without_alimtalk_codes(tmp_path: Path) -> None:
    (tmp_path / "winter_sale.toml").write_text(advertising_file(), encoding="utf-8")

    templates = Templates.load(tmp_path)

    assert templates.template("winter_sale").advertising
    assert templates.alimtalk_template_codes() == frozenset()
    assert all(text.alimtalk_template_code is None for text in templates.template("winter_sale").locales.values())


def test_the_repos_advertising_is_never_an_alimtalk_template() -> None:
    codes = TEMPLATES.alimtalk_template_codes()

    assert {"SHOA_RESTOCK_KO", "SHOA_MKT_CHECK_KO", "SHOA_MKT_CHANGED_KO"} <= codes
    for event in ("price_dropped", "cart_reminder"):
        assert TEMPLATES.template(event).advertising
        assert {text.alimtalk_template_code for text in TEMPLATES.template(event).locales.values()} == {None}
    for event in ("restock_available", "marketing_consent_check", "marketing_consent_changed"):
        assert not TEMPLATES.template(event).advertising


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (advertising_file(kind="promotion"), 'kind is "information" \\(the default\\) or "advertising"'),
        (advertising_file(alimtalk=True), r"\[ko\]\.alimtalk: advertising has no AlimTalk"),
        (
            advertising_file({"ko": "Shoa 세일 #{n} (광고)\n무료 수신거부: #{opt_out_url}"}),
            r"\[ko\] .*begins with \(광고\)",
        ),
        (advertising_file({"ja": "(광고) Shoa #{n}\n配信停止 #{opt_out_url}"}), r"\[ja\] .*begins with 【広告】"),
        (
            advertising_file({"en": "Shoa sale #{n}\nUnsubscribe (free): #{opt_out_url}"}),
            r"\[en\] .*begins with \(Ad\)",
        ),
        (advertising_file({"ko": "(광고) 겨울 세일 #{n}\n무료 수신거부: #{opt_out_url}"}), "names the sender, Shoa"),
        (advertising_file({"ko": "(광고) Shoa #{n}\n수신거부: #{opt_out_url}"}), "free opt-out as '무료 수신거부'"),
        (advertising_file({"ko": "(광고) Shoa #{n}\n#{opt_out_url} 무료 수신거부"}), "free opt-out"),
        (advertising_file({"ko": "(광고) Shoa #{n} 무료 수신거부\n#{opt_out_url}"}), "free opt-out"),
        (advertising_file({"en": "(Ad) Shoa #{n}\nUnsubscribe: #{opt_out_url}"}), r"\[en\] .*Unsubscribe \(free\)"),
        (
            advertising_file(
                {
                    locale: text.replace("#{opt_out_url}", "https://shoa.kr/opt-out")
                    for locale, text in GOOD_TEXTS.items()
                },
                variables='[variables]\nn = { type = "text", max_length = 20 }\n',
            ),
            "advertising declares opt_out_url, a url variable",
        ),
        (
            advertising_file(variables=GOOD_VARIABLES.replace('type = "url"', 'type = "text"')),
            "advertising declares opt_out_url, a url variable",
        ),
        (
            advertising_file(variables=GOOD_VARIABLES.replace("max_length = 20 ", "max_length = 1000 ")),
            "an LMS holds 2000",
        ),
    ],
)
def test_a_broken_advertising_file_stops_the_start_naming_it(tmp_path: Path, body: str, complaint: str) -> None:
    path = tmp_path / "winter_sale.toml"
    path.write_text(body, encoding="utf-8")

    with pytest.raises(TemplateFileError, match=complaint) as error:
        Templates.load(tmp_path)

    assert str(path) in str(error.value)


@pytest.mark.parametrize(("locale", "mark"), [("ko", "(광고)"), ("ja", "【広告】"), ("en", "(Ad)")])
def test_information_may_not_carry_an_advertising_mark_in_any_language(tmp_path: Path, locale: str, mark: str) -> None:
    path = tmp_path / "parcel_lost.toml"
    path.write_text(
        '[variables]\nn = { type = "text", max_length = 20 }\n'
        + "\n".join(
            f'[{each}]\ntitle = "[Shoa] 분실"\ntext = """{mark if each == locale else ""}[Shoa] #{{n}}"""\n'
            f'alimtalk = {{ template_code = "SHOA_LOST_{each.upper()}" }}\n'
            for each in ("ko", "ja", "en")
        ),
        encoding="utf-8",
    )

    with pytest.raises(TemplateFileError, match=rf"\[{locale}\] is marked as advertising") as error:
        Templates.load(tmp_path)

    assert str(path) in str(error.value)


# --- Rendering -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["price_dropped", "cart_reminder"])
@pytest.mark.parametrize(
    ("locale", "mark", "opt_out"),
    [
        ("ko", "(광고) Shoa", "무료 수신거부: "),
        ("ja", "【広告】Shoa", "配信停止\uff08無料\uff09\uff1a"),  # full-width brackets and colon
        ("en", "(Ad) Shoa", "Unsubscribe (free): "),
    ],
)
def test_an_lms_keeps_the_mark_first_and_the_free_opt_out_last(
    event: str, locale: Locale, mark: str, opt_out: str
) -> None:
    parameters = TEMPLATES.prepare(event, PARAMETERS[event], locale=locale)

    for channel in (Channel.SMS, Channel.LINE, Channel.INSTAGRAM, Channel.TALKTALK):
        rendered = TEMPLATES.render(event, locale=locale, parameters=parameters, channel=channel, address=PHONE)
        assert rendered.text.startswith(mark)
        assert rendered.text.endswith(opt_out + "https://shoa.kr/opt-out/k7Qx2")
    sms = TEMPLATES.render(event, locale=locale, parameters=parameters, channel=Channel.SMS, address=PHONE)
    assert sms.sms_kind == "LMS"
    assert sms_bytes(sms.text) > SMS_MAX_BYTES
    assert sms.title is not None
    assert sms.title.startswith(mark)


def test_a_price_drop_says_what_costs_less_in_korean() -> None:
    parameters = TEMPLATES.prepare("price_dropped", PARAMETERS["price_dropped"], locale="ko")

    sms = TEMPLATES.render("price_dropped", locale="ko", parameters=parameters, channel=Channel.SMS, address=PHONE)

    assert sms.text == (
        "(광고) Shoa (문의 help@shoa.kr)\n관심 상품의 가격이 내려갔습니다.\n\n"
        "상품: 린넨 오버핏 셔츠\n판매처: 모노하우스\n"
        "가격: 39,000원 → 29,000원\n\n상품 보기: https://shoa.kr/products/0193a1c2\n\n"
        "무료 수신거부: https://shoa.kr/opt-out/k7Qx2"
    )
    assert sms.title == "(광고) Shoa 가격 인하 알림"


def test_restock_is_information_with_a_button_to_the_product() -> None:
    parameters = TEMPLATES.prepare("restock_available", PARAMETERS["restock_available"], locale="ko")

    alimtalk = TEMPLATES.render(
        "restock_available", locale="ko", parameters=parameters, channel=Channel.ALIMTALK, address=PHONE
    )

    assert alimtalk.template_code == "SHOA_RESTOCK_KO"
    assert alimtalk.text == (
        "[Shoa] 재입고 알림\n\n신청하신 상품이 다시 입고됐습니다.\n\n"
        "상품: 린넨 오버핏 셔츠\n옵션: 블랙 / M\n판매처: 모노하우스"
    )
    assert [(b.name, b.url) for b in alimtalk.buttons] == [("상품 보기", "https://shoa.kr/products/0193a1c2")]


def test_advertising_never_renders_as_an_alimtalk() -> None:
    parameters = TEMPLATES.prepare("cart_reminder", PARAMETERS["cart_reminder"], locale="ko")

    with pytest.raises(NotifyError, match="AlimTalk carries information only"):
        TEMPLATES.render("cart_reminder", locale="ko", parameters=parameters, channel=Channel.ALIMTALK, address=PHONE)


# --- Routing ---------------------------------------------------------------------------------------------------

NOW = datetime.datetime(2026, 12, 9, 3, 0, tzinfo=datetime.UTC)


def linked(*, consents: frozenset[Channel] = EVERYTHING, advertising: frozenset[Channel] = EVERYTHING) -> Recipient:
    return Recipient(
        phone=PHONE,
        line_user_id=LINE_USER,
        instagram_id="17841400000000001",
        instagram_window_until=NOW + datetime.timedelta(hours=1),
        talktalk_id="tt-user-1",
        consents=consents,
        advertising_consents=advertising,
        preferred=Channel.ALIMTALK,
    )


def advertising_route(recipient: Recipient) -> list[Channel]:
    return [stop.channel for stop in plan_route(recipient, locale="ko", now=NOW, advertising=True)]


def test_advertising_never_goes_by_alimtalk_even_with_every_consent() -> None:
    assert advertising_route(linked()) == [Channel.TALKTALK, Channel.LINE, Channel.INSTAGRAM, Channel.SMS]
    assert advertising_route(linked(advertising=frozenset({Channel.ALIMTALK}))) == []


def test_advertising_needs_marketing_consent_not_the_order_messages_consent() -> None:
    assert advertising_route(linked(advertising=frozenset())) == []
    assert advertising_route(linked(consents=frozenset(), advertising=frozenset({Channel.LINE}))) == [Channel.LINE]
    order_route = [stop.channel for stop in plan_route(linked(consents=frozenset()), locale="ko", now=NOW)]
    assert order_route == []  # and marketing consent carries no order message


def test_advertising_keeps_sms_last_and_instagram_inside_its_window() -> None:
    closed = Recipient(
        phone=PHONE,
        instagram_id="17841400000000001",
        instagram_window_until=NOW - datetime.timedelta(seconds=1),
        advertising_consents=EVERYTHING,
        preferred=Channel.INSTAGRAM,
    )

    assert advertising_route(closed) == [Channel.SMS]
    assert advertising_route(linked())[-1] is Channel.SMS


# --- The Korean night ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (kst(9, 22, 30), kst(10, 8)),
        (kst(9, 21, 0), kst(10, 8)),
        (kst(10, 0, 0), kst(10, 8)),
        (kst(10, 7, 59, 59), kst(10, 8)),
        (kst(10, 8, 0), None),
        (kst(10, 20, 59, 59), None),
        (kst(31, 23, 0), datetime.datetime(2027, 1, 1, 8, tzinfo=KOREA)),
    ],
)
def test_the_night_runs_from_21_to_08_korea_time(now: datetime.datetime, until: datetime.datetime | None) -> None:
    held = held_until(now.astimezone(datetime.UTC))

    assert held == until
    assert held is None or held.tzinfo is datetime.UTC


@pytest.mark.parametrize(
    ("enqueued_at", "due"),
    [
        (kst(9, 22, 30), kst(10, 8)),
        (kst(10, 7, 59), kst(10, 8)),
        (kst(10, 8, 0), kst(10, 8, 0)),
        (kst(10, 14, 0), kst(10, 14, 0)),
    ],
)
async def test_advertising_enqueued_at_night_is_held_until_8_korea_time(
    session: AsyncSession, enqueued_at: datetime.datetime, due: datetime.datetime
) -> None:
    box = outbox()

    enqueued = await box.enqueue(session, outgoing("price_dropped", recipient=shopper()), now=enqueued_at)
    message = await stored(session, enqueued.message_id)

    assert (enqueued.status, enqueued.channel) == ("queued", "sms")
    assert message.quiet_hours
    assert message.next_attempt_at == due


async def test_night_consent_or_information_goes_at_once_at_night(session: AsyncSession) -> None:
    box = outbox()
    night = kst(9, 23, 15)

    consented = await box.enqueue(session, outgoing("cart_reminder", recipient=shopper(night=True)), now=night)
    restock = await box.enqueue(session, outgoing("restock_available", recipient=shopper()), now=night)

    for enqueued in (consented, restock):
        message = await stored(session, enqueued.message_id)
        assert not message.quiet_hours
        assert message.next_attempt_at == night
    assert restock.channel == "alimtalk"  # information keeps its AlimTalk


async def test_advertising_without_marketing_consent_is_recorded_and_never_sent(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    order_messages_only = shopper(frozenset(), consents=EVERYTHING)

    enqueued = await outbox().enqueue(
        session, outgoing("price_dropped", recipient=order_messages_only), now=kst(10, 12)
    )
    await session.commit()
    sent = await dispatcher(every_channel(sandbox(engine))).run(sessions(engine))

    message = await stored(session, enqueued.message_id)
    assert (enqueued.status, enqueued.channel) == ("unreachable", None)
    assert message.last_error == UNREACHABLE_ADVERTISING
    assert "marketing consent" in UNREACHABLE_ADVERTISING
    assert message.text.startswith("(광고) Shoa")  # what she would have read, in her message list
    assert sent == 0
    assert await sandbox_messages(session) == []


async def test_a_backlog_reaching_into_the_night_is_held_at_the_claim_then_sent_at_8(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    enqueued = await outbox().enqueue(session, outgoing("price_dropped", recipient=shopper()), now=kst(9, 20, 50))
    await session.commit()
    clock = Clock()
    clock.now = kst(9, 21, 10)  # the worker reaches it after 21:00
    worker = dispatcher(every_channel(sandbox(engine)), clock=clock)

    assert await worker.run(sessions(engine)) == 1
    held = await stored(session, enqueued.message_id)
    assert (held.status, held.next_attempt_at, held.claim_token) == ("queued", kst(10, 8), None)
    assert await attempts(session, enqueued.message_id) == []
    assert await sandbox_messages(session) == []

    clock.now = kst(10, 7, 59, 59)
    assert await worker.run(sessions(engine)) == 0
    clock.now = kst(10, 8)
    assert await worker.run(sessions(engine)) == 1

    message = await stored(session, enqueued.message_id)
    [sent] = await sandbox_messages(session)
    assert (message.status, message.channel) == ("accepted", "sms")
    assert (sent.channel, sent.address, sent.sms_kind, sent.template_code) == ("sms", PHONE, "LMS", None)
    assert sent.text.startswith("(광고) Shoa")
    assert sent.text.endswith("무료 수신거부: https://shoa.kr/opt-out/k7Qx2")


async def test_a_retry_falling_at_night_waits_for_the_morning(engine: AsyncEngine, session: AsyncSession) -> None:
    enqueued = await outbox().enqueue(session, outgoing("cart_reminder", recipient=shopper()), now=kst(9, 20, 59, 50))
    await session.commit()
    clock = Clock()
    clock.now = kst(9, 20, 59, 50)
    flaky = ScriptedProvider("nhn", {Channel.ALIMTALK, Channel.SMS}, [OutcomeKind.TRANSIENT])
    worker = dispatcher(every_channel(flaky), clock=clock)

    await worker.run(sessions(engine))  # 503: to be tried again in a second or two, past 21:00
    clock.now = kst(9, 21, 0, 30)
    await worker.run(sessions(engine))

    held = await stored(session, enqueued.message_id)
    assert (held.status, held.next_attempt_at) == ("queued", kst(10, 8))
    assert len(flaky.deliveries) == 1

    clock.now = kst(10, 8, 0, 1)
    await worker.run(sessions(engine))

    message = await stored(session, enqueued.message_id)
    assert message.status == "accepted"
    assert [a.outcome for a in await attempts(session, enqueued.message_id)] == ["transient", "accepted"]
    assert len(flaky.deliveries) == 2


async def test_advertising_with_night_consent_is_sent_at_night(engine: AsyncEngine, session: AsyncSession) -> None:
    night_owl = Recipient(
        line_user_id=LINE_USER, advertising_consents=frozenset({Channel.LINE}), night_advertising=True, locale="ja"
    )
    enqueued = await outbox().enqueue(session, outgoing("price_dropped", recipient=night_owl), now=kst(9, 23, 40))
    await session.commit()
    clock = Clock()
    clock.now = kst(9, 23, 40)

    assert await dispatcher(every_channel(sandbox(engine)), clock=clock).run(sessions(engine)) == 1

    [sent] = await sandbox_messages(session)
    assert (await stored(session, enqueued.message_id)).status == "accepted"
    assert (sent.channel, sent.address) == ("line", LINE_USER)
    assert sent.text.startswith("【広告】Shoa")


# --- Many at once ----------------------------------------------------------------------------------------------

COMPARED = [column.name for column in Message.__table__.columns if column.name not in {
    "id", "idempotency_key", "delivery_key", "created_at", "updated_at",
}]  # fmt: skip
"""Everything a row holds but what is its own: ids, keys and the wall-clock times of the insert."""


def a_wave(directory: Directory, prefix: str) -> list[Any]:
    """Messages of every kind: information and advertising, shoppers and explicit recipients, languages, an
    unknown shopper, one without marketing consent, one with night consent, and a key given twice."""
    ids = list(directory.recipients)
    guest = Recipient(talktalk_id="tt-guest", consents=frozenset({Channel.TALKTALK}), locale="en")
    return [
        outgoing("price_dropped", key=f"{prefix}:1", user_id=ids[0]),
        outgoing("cart_reminder", key=f"{prefix}:2", user_id=ids[1]),
        outgoing("price_dropped", key=f"{prefix}:3", user_id=ids[2]),
        outgoing("restock_available", key=f"{prefix}:4", user_id=ids[0]),
        outgoing("shipping_started", key=f"{prefix}:5", recipient=guest, locale="ko"),
        outgoing("price_dropped", key=f"{prefix}:6", user_id=directory.nobody),
        outgoing("cart_reminder", key=f"{prefix}:7", user_id=ids[3]),
        outgoing("price_dropped", key=f"{prefix}:1", user_id=ids[0]),  # the same key again
        outgoing("marketing_consent_changed", key=f"{prefix}:8", user_id=ids[1]),
    ]


def a_directory() -> Directory:
    return Directory({
        uuid.uuid4(): shopper(),
        uuid.uuid4(): Recipient(line_user_id=LINE_USER, consents=EVERYTHING,
                                advertising_consents=frozenset({Channel.LINE}), locale="ja"),
        uuid.uuid4(): shopper(frozenset(), consents=EVERYTHING),  # order messages only
        uuid.uuid4(): shopper(night=True),
    })  # fmt: skip


async def rows_by_key(session: AsyncSession, prefix: str) -> dict[str, dict[str, Any]]:
    table = Message.__table__
    rows = (await session.execute(sa.select(table).where(table.c.idempotency_key.startswith(f"{prefix}:")))).all()
    return {row.idempotency_key.removeprefix(prefix): {name: row._mapping[name] for name in COMPARED} for row in rows}


@pytest.mark.parametrize("batch", [True, False], ids=["batch lookup", "one lookup per shopper"])
async def test_enqueue_many_writes_the_rows_enqueue_writes(session: AsyncSession, batch: bool) -> None:
    directory = a_directory()
    night = kst(9, 22, 30)

    one_by_one = [await directory.outbox().enqueue(session, m, now=night) for m in a_wave(directory, "one")]
    directory.one_calls.clear()
    together = await directory.outbox(batch=batch).enqueue_many(session, a_wave(directory, "many"), now=night)

    assert [(e.created, e.status, e.channel) for e in together] == [
        (e.created, e.status, e.channel) for e in one_by_one
    ]
    assert together[7].message_id == together[0].message_id  # the key given twice is one message
    assert [e.created for e in together] == [True] * 7 + [False, True]
    assert await rows_by_key(session, "many") == await rows_by_key(session, "one")
    expected = await rows_by_key(session, "many")
    assert expected[":1"]["quiet_hours"]
    assert expected[":1"]["next_attempt_at"] == kst(10, 8)
    assert expected[":7"]["next_attempt_at"] == night  # night consent
    if batch:
        assert directory.one_calls == []
        assert len(directory.many_calls) == 1
        assert len(directory.many_calls[0]) == 5  # four shoppers and the unknown one, each once
    else:
        assert len(directory.one_calls) == 5


async def test_enqueue_many_again_changes_nothing(session: AsyncSession) -> None:
    directory = a_directory()
    box = directory.outbox()
    early = await box.enqueue(session, a_wave(directory, "w")[1])  # one of them was enqueued alone before

    first = await box.enqueue_many(session, a_wave(directory, "w"), now=kst(10, 9))
    await session.commit()
    rows = await rows_by_key(session, "w")
    again = await box.enqueue_many(session, a_wave(directory, "w"), now=kst(10, 10))
    await session.commit()

    assert first[1].message_id == early.message_id
    assert not first[1].created
    assert not any(e.created for e in again)
    assert [(e.message_id, e.status, e.channel) for e in again] == [(e.message_id, e.status, e.channel) for e in first]
    assert await rows_by_key(session, "w") == rows
    assert len(rows) == 8


async def test_one_refused_message_writes_none_of_the_wave(session: AsyncSession) -> None:
    directory = a_directory()
    wave = a_wave(directory, "w")
    wave.append(outgoing("price_dropped", key="w:bad", user_id=next(iter(directory.recipients)),
                         parameters={**PARAMETERS["price_dropped"], "opt_out_url": "http://shoa.kr/x"}))  # fmt: skip

    with pytest.raises(InvalidParametersError, match="opt_out_url must be an https:// URL"):
        await directory.outbox().enqueue_many(session, wave)

    assert await rows_by_key(session, "w") == {}


@contextlib.contextmanager
def statements_on(engine: AsyncEngine) -> Iterator[list[tuple[str, int]]]:
    """Every statement sent to PostgreSQL meanwhile, with its number of parameters."""
    seen: list[tuple[str, int]] = []

    def record(*args: Any) -> None:
        _connection, _cursor, statement, parameters, _context, _executemany = args
        seen.append((statement, len(parameters or ())))

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_two_thousand_messages_take_a_few_statements(engine: AsyncEngine, session: AsyncSession) -> None:
    directory = Directory({uuid.uuid4(): shopper(frozenset({Channel.SMS})) for _ in range(1_500)})
    guests = [Recipient(line_user_id=f"U{n:032x}", advertising_consents=frozenset({Channel.LINE})) for n in range(500)]
    wave = [outgoing("price_dropped", key=f"drop:{user_id}", user_id=user_id) for user_id in directory.recipients]
    wave += [outgoing("cart_reminder", key=f"cart:{n}", recipient=guest) for n, guest in enumerate(guests)]
    box = directory.outbox()

    with statements_on(engine) as first:
        enqueued = await box.enqueue_many(session, wave, now=kst(10, 12))
    await session.commit()
    with statements_on(engine) as again:
        repeated = await box.enqueue_many(session, wave, now=kst(10, 12))

    assert len(enqueued) == 2_000
    assert all(e.created and e.status == "queued" for e in enqueued)
    assert [e.channel for e in enqueued] == ["sms"] * 1_500 + ["line"] * 500
    assert len(directory.many_calls) == 2  # one lookup per call
    # 2,000 rows do not fit one statement's 32,767 parameters: two INSERTs, each as full as it may be.
    assert [sql.split()[0] for sql, _ in first] == ["INSERT", "INSERT"]
    assert all(count <= 32_767 for _, count in first + again)
    assert first[0][1] > 30_000
    assert [sql.split()[0] for sql, _ in again] == ["INSERT", "INSERT", "SELECT"]
    assert [e.message_id for e in repeated] == [e.message_id for e in enqueued]
    assert not any(e.created for e in repeated)
    count = await session.scalar(sa.select(sa.func.count()).select_from(Message))
    assert count == 2_000
