"""The pages a win-back message's opt-out link opens: one button that stops Shoa's advertising at once, and what
was done. The link itself changes nothing (messengers open links to preview them); the button does."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from shoa_api.pages.layout import document, refusal_page

if TYPE_CHECKING:
    import datetime

CHANNEL_NAMES = {
    "sms": "문자(SMS)",
    "line": "LINE",
    "talktalk": "네이버 톡톡",
    "instagram": "Instagram",
    "night": "야간(21시~08시)",
}


def render_opt_out_page(action: str) -> str:
    return document(
        "광고 수신 거부",
        '<main class="problem"><h1>Shoa 광고성 정보 수신 거부</h1>'
        "<p>가격 인하·장바구니 알림 같은 광고성 메시지를 더는 받지 않습니다. 주문·배송 안내와 신청하신 재입고 알림은 "
        "계속 받습니다. 수신 거부는 무료이며 누르는 즉시 적용됩니다.</p>"
        f'<form method="post" action="{escape(action)}"><button type="submit">수신 거부하기</button></form></main>',
    )


def render_opted_out_page(withdrawn: list[str], at: datetime.datetime) -> str:
    names = ", ".join(CHANNEL_NAMES.get(channel, channel) for channel in withdrawn)
    what = f"{escape(names)} 광고 수신 동의를 철회했습니다." if withdrawn else "받고 계신 광고성 메시지가 없었습니다."
    return document(
        "수신 거부 완료",
        f'<main class="problem"><h1>수신 거부가 처리되었습니다</h1><p>{what}</p>'
        f'<p class="note">처리 일시: {at:%Y-%m-%d %H:%M} (한국 시간). 다시 받으려면 앱의 설정에서 동의하실 수 '
        "있습니다.</p></main>",
    )


def render_unknown_link_page() -> str:
    return refusal_page(
        heading="열 수 없는 링크입니다",
        message="Shoa가 보낸 링크가 아니거나 주소가 잘렸습니다. 메시지의 링크를 다시 눌러 주세요.",
    )
