"""The message templates: every file in the repo loads and renders on every channel in ko, ja and en; a broken file
stops the start naming the file and the variable; bad parameters are refused when the message is enqueued."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import pytest

from notify.errors import InvalidParametersError, NotifyError, TemplateFileError, UnknownEventError
from notify.providers.base import Channel
from notify.rendering import LMS_MAX_BYTES, SMS_MAX_BYTES, Templates, sms_bytes
from tests.notify.builders import PARAMETERS, TEMPLATES

if TYPE_CHECKING:
    from pathlib import Path

    from notify.schemas import Locale, ParameterValue


EVENTS = {
    "order_received", "deposit_requested", "deposit_confirmed", "payment_confirmed", "shipping_started",
    "delivered", "cancelled", "refund_completed", "return_received", "exchange_received", "chat_answer",
    "inquiry_answered", "restock_available", "marketing_consent_check", "marketing_consent_changed",
}  # fmt: skip
ADVERTISING = {"price_dropped", "cart_reminder"}
HEADLINES = {
    "order_received": "주문이 접수됐습니다",
    "deposit_confirmed": "입금이 확인됐습니다",
    "payment_confirmed": "결제가 완료됐습니다",
    "shipping_started": "상품 배송이 시작됐습니다",
    "restock_available": "신청하신 상품이 다시 입고됐습니다",
    "price_dropped": "가격이 내려갔습니다",
    "cart_reminder": "장바구니에 담아 두신 상품",
    "marketing_consent_check": "2년마다 수신동의 여부를 알려 드립니다",
    "marketing_consent_changed": "수신동의 변경 결과",
}


def _sample(event: str) -> dict[str, ParameterValue]:
    """A value for every variable, as long as it may be."""
    values: dict[str, ParameterValue] = {}
    for name, variable in TEMPLATES.template(event).variables.items():
        if variable.type == "amount":
            values[name] = 1_234_567
        elif variable.type == "datetime":
            values[name] = datetime.datetime(2026, 12, 8, 14, 59, tzinfo=datetime.UTC)
        elif variable.type == "url":
            values[name] = "https://shoa.kr/" + "a" * (variable.max_length - len("https://shoa.kr/"))
        else:
            values[name] = "가" * variable.max_length
    return values


def test_every_order_step_has_a_template() -> None:
    assert set(TEMPLATES.events) == EVENTS | ADVERTISING
    assert {event for event in TEMPLATES.events if TEMPLATES.template(event).advertising} == ADVERTISING


@pytest.mark.parametrize("event", sorted(EVENTS | ADVERTISING))
@pytest.mark.parametrize("locale", ["ko", "ja", "en"])
def test_every_template_renders_on_every_channel_within_its_limits(event: str, locale: Locale) -> None:
    parameters = TEMPLATES.prepare(event, _sample(event), locale=locale)

    for channel in Channel:
        if event in ADVERTISING and channel is Channel.ALIMTALK:
            with pytest.raises(NotifyError, match="AlimTalk carries information only"):
                TEMPLATES.render(event, locale=locale, parameters=parameters, channel=channel, address="+8210")
            continue
        rendered = TEMPLATES.render(event, locale=locale, parameters=parameters, channel=channel, address="+8210")
        assert "#{" not in rendered.text
        if channel is Channel.ALIMTALK:
            assert rendered.template_code
            assert len(rendered.text) <= 1000
            assert set(rendered.template_parameters) == set(TEMPLATES.template(event).variables)
            assert rendered.fallback is None  # Shoa falls back itself
        elif channel is Channel.SMS:
            assert sms_bytes(rendered.text) <= LMS_MAX_BYTES
            assert rendered.sms_kind == ("SMS" if sms_bytes(rendered.text) <= SMS_MAX_BYTES else "LMS")


@pytest.mark.parametrize(("event", "headline"), sorted(HEADLINES.items()))
def test_the_korean_texts_say_what_the_step_is(event: str, headline: str) -> None:
    assert headline in TEMPLATES.template(event).locales["ko"].text


def test_shipping_started_carries_the_carrier_the_number_and_a_tracking_button() -> None:
    parameters = TEMPLATES.prepare("shipping_started", PARAMETERS["shipping_started"], locale="ko")

    alimtalk = TEMPLATES.render(
        "shipping_started", locale="ko", parameters=parameters, channel=Channel.ALIMTALK, address="+821012345678"
    )
    sms = TEMPLATES.render(
        "shipping_started", locale="ko", parameters=parameters, channel=Channel.SMS, address="+821012345678"
    )

    assert "상품 배송이 시작됐습니다" in alimtalk.text
    assert "CJ대한통운" in alimtalk.text
    assert "654321098765" in alimtalk.text
    assert [(b.name, b.url) for b in alimtalk.buttons] == [
        ("배송 조회", PARAMETERS["shipping_started"]["tracking_url"])
    ]
    assert sms.sms_kind == "LMS"
    assert sms.title == "[Shoa] 배송 시작"
    assert sms.text.startswith(alimtalk.text)  # the same content
    assert sms.text.endswith(f"배송 조회: {PARAMETERS['shipping_started']['tracking_url']}")


def test_amounts_and_deadlines_are_written_in_the_shoppers_language() -> None:
    ko = TEMPLATES.prepare("deposit_requested", PARAMETERS["deposit_requested"], locale="ko")
    ja = TEMPLATES.prepare("deposit_requested", PARAMETERS["deposit_requested"], locale="ja")
    en = TEMPLATES.prepare("deposit_requested", PARAMETERS["deposit_requested"], locale="en")

    assert ko["amount"] == "39,000"
    assert (ko["deadline"], ja["deadline"], en["deadline"]) == (
        "12월 8일(화) 23:59",
        "12月8日(火) 23:59",
        "Tue 8 Dec 23:59 KST",
    )


def test_a_short_text_goes_as_an_sms() -> None:
    assert sms_bytes("배송 시작") == 9
    assert sms_bytes("a" * 90) == SMS_MAX_BYTES


def test_unknown_events_and_wrong_parameters_are_refused() -> None:
    with pytest.raises(UnknownEventError, match="order_shipped"):
        TEMPLATES.prepare("order_shipped", {}, locale="ko")
    without = {k: v for k, v in PARAMETERS["shipping_started"].items() if k != "tracking_url"}
    with pytest.raises(InvalidParametersError, match="missing tracking_url") as missing:
        TEMPLATES.prepare("shipping_started", without, locale="ko")
    assert missing.value.field == "parameters.tracking_url"
    with pytest.raises(InvalidParametersError, match=r"not declared by shipping_started\.toml: coupon"):
        TEMPLATES.prepare("shipping_started", {**PARAMETERS["shipping_started"], "coupon": "10%"}, locale="ko")
    with pytest.raises(InvalidParametersError, match="amount is an amount"):
        TEMPLATES.prepare("order_received", {**PARAMETERS["order_received"], "amount": "59000"}, locale="ko")
    with pytest.raises(InvalidParametersError, match="https"):
        TEMPLATES.prepare(
            "shipping_started", {**PARAMETERS["shipping_started"], "tracking_url": "http://x.kr"}, locale="ko"
        )
    with pytest.raises(InvalidParametersError, match="longer than its 30 characters"):
        TEMPLATES.prepare(
            "shipping_started", {**PARAMETERS["shipping_started"], "tracking_number": "9" * 31}, locale="ko"
        )


def _write(directory: Path, text: str, name: str = "parcel_lost.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def _locales(text: str, *, code: str = "SHOA_LOST") -> str:
    return "\n".join(
        f'[{locale}]\ntitle = "[Shoa] 분실"\ntext = """{text}"""\n'
        f'alimtalk = {{ template_code = "{code}_{locale.upper()}" }}\n'
        for locale in ("ko", "ja", "en")
    )


def test_a_template_using_an_undeclared_variable_stops_the_start(tmp_path: Path) -> None:
    path = _write(tmp_path, '[variables]\norder_number = { type = "text", max_length = 30 }\n' + _locales(
        "주문 #{order_number}의 택배가 #{carrier}에서 분실됐습니다."
    ))  # fmt: skip

    with pytest.raises(TemplateFileError) as error:
        Templates.load(tmp_path)

    assert str(path) in str(error.value)
    assert "#{carrier}" in str(error.value)
    assert "does not declare" in str(error.value)


def test_a_locale_leaving_out_a_declared_variable_stops_the_start(tmp_path: Path) -> None:
    _write(tmp_path, '[variables]\norder_number = { type = "text", max_length = 30 }\n'
                     'carrier = { type = "text", max_length = 20 }\n' + _locales("주문 #{order_number}"))  # fmt: skip

    with pytest.raises(TemplateFileError, match=r"parcel_lost.toml: \[ko\] leaves out #\{carrier\}"):
        Templates.load(tmp_path)


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ('[variables]\nn = { type = "text", max_length = 30 }\n' + _locales("(광고) #{n} 할인"), "advertising"),
        ('[variables]\nn = { type = "text", max_length = 500 }\n' + _locales("#{n}" * 3), "AlimTalk holds 1000"),
        ('[variables]\nn = { type = "text", max_length = 5 }\n' + _locales("#{n}", code="X" * 21), "template_code"),
        ('[variables]\nn = { type = "text", max_length = 5 }\n[ko]\ntitle = "t"\n', "needs a title and a text"),
        ("[variables\n", "not valid TOML"),
    ],
)
def test_broken_template_files_are_named_with_what_is_wrong(tmp_path: Path, body: str, complaint: str) -> None:
    _write(tmp_path, body)

    with pytest.raises(TemplateFileError, match=complaint):
        Templates.load(tmp_path)
