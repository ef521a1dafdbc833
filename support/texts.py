"""What the bot says, in Korean, Japanese and English: one entry per answer, with ``str.format`` fields.

The words are a shop clerk's: short, polite (해요체, です・ます), and they say what happens next. Amounts are
whole won with thousands separators; moments are Korea's time, which the shopper's order pages show too.
"""

from __future__ import annotations

import datetime
from typing import Literal

Locale = Literal["ko", "ja", "en"]
KOREA = datetime.timezone(datetime.timedelta(hours=9), "KST")

TEXTS: dict[str, tuple[str, str, str]] = {
    "and_more": ("{first} 외 {more}건", "{first} ほか{more}点", "{first} and {more} more"),
    "menu": (
        "안녕하세요, Shoa 고객센터 챗봇이에요. 무엇을 도와드릴까요?",
        "こんにちは、Shoaカスタマーサポートです。ご用件をお選びください。",
        "Hi, this is Shoa's customer service bot. How can I help?",
    ),
    "not_understood": (
        "죄송해요, 잘 이해하지 못했어요. 아래에서 골라 주시거나 다시 말씀해 주세요.",
        "申し訳ありません、うまく理解できませんでした。下から選ぶか、言い換えてください。",
        "Sorry, I did not get that. Pick one below or say it another way.",
    ),
    "ask_order_number": (
        "본인 확인을 위해 주문번호를 알려 주세요. (SH로 시작하는 번호예요, 예: SH20261207-000123)",
        "ご本人確認のため、注文番号を入力してください。(SHで始まる番号です。例:SH20261207-000123)",
        "To check it is you, please send the order number (it starts with SH, e.g. SH20261207-000123).",
    ),
    "ask_order_number_or_none": (
        "상담원에게 연결해 드릴게요. 주문에 대한 문의라면 주문번호를 알려 주세요. 주문과 관계없는 문의라면 "
        "'주문 외 문의'를 눌러 주세요.",
        "担当者におつなぎします。ご注文についてなら注文番号を、それ以外は「注文以外」を選んでください。",
        "I'll pass you to a person. If it is about an order, send its order number; otherwise pick 'Not about an "
        "order'.",
    ),
    "welcome": (
        "천만에요! 더 도와드릴 일이 있으면 골라 주세요.",
        "どういたしまして。他にご用件があればお選びください。",
        "You're welcome! Anything else? Pick one below.",
    ),
    "ask_phone_digits": (
        "주문하실 때 입력한 휴대폰 번호의 끝 4자리를 알려 주세요.",
        "ご注文時に入力した電話番号の下4桁を入力してください。",
        "Now the last 4 digits of the phone number on the order, please.",
    ),
    "proof_failed": (
        "주문번호나 휴대폰 번호 끝 4자리가 맞지 않아요. 다시 확인해 주세요. (남은 시도 {left}회)",
        "注文番号または電話番号の下4桁が一致しません。もう一度ご確認ください。(残り{left}回)",
        "The order number or the last 4 digits do not match. Please check them. ({left} tries left)",
    ),
    "locked": (
        "확인에 여러 번 실패해서 {minutes}분 동안 주문 조회가 잠겼어요. 잠시 후 다시 시도해 주세요.",
        "確認に複数回失敗したため、{minutes}分間ご注文の照会をロックしました。後ほどお試しください。",
        "Too many failed checks: order lookups are locked for {minutes} minutes. Please try again later.",
    ),
    "proven": (
        "확인됐어요. 주문 {number}에 대해 도와드릴게요.",
        "確認できました。注文{number}についてご案内します。",
        "Thanks, that matches. Let's look at order {number}.",
    ),
    "no_orders": (
        "확인되는 주문이 없어요. 다른 주문번호로 확인하시려면 주문번호를 알려 주세요.",
        "確認できるご注文がありません。別の注文番号で確認する場合は番号を入力してください。",
        "I found no orders. To look up another order, send its order number.",
    ),
    "choose_order": (
        "어떤 주문인가요? 번호로 골라 주세요.",
        "どのご注文ですか?番号でお選びください。",
        "Which order? Pick its number.",
    ),
    "choose_order_or_none": (
        "어떤 주문에 대한 문의인가요? 주문과 관계없는 문의라면 '주문 외 문의'를 골라 주세요.",
        "どのご注文についてのお問い合わせですか?注文以外は「注文以外」をお選びください。",
        "Which order is it about? Pick 'Not about an order' otherwise.",
    ),
    "not_about_order": ("주문 외 문의", "注文以外", "Not about an order"),
    "choose_item": (
        "어떤 상품인가요? 번호로 골라 주세요.",
        "どの商品ですか?番号でお選びください。",
        "Which item? Pick its number.",
    ),
    "all_items": ("전체 상품", "すべての商品", "All items"),
    "choose_option": (
        "어떤 옵션으로 교환할까요? 지금 재고가 있는 옵션이에요.",
        "どのオプションに交換しますか?在庫のあるオプションです。",
        "Which size or colour would you like instead? These are in stock.",
    ),
    "no_other_option": (
        "지금 교환할 수 있는 다른 옵션의 재고가 없어요. 판매처에 문의를 남겨 드릴게요.",
        "現在、交換できる他のオプションの在庫がありません。ショップにお問い合わせをお送りします。",
        "No other size or colour is in stock right now. I'll pass this to the shop.",
    ),
    "yes": ("예", "はい", "Yes"),
    "no": ("아니요", "いいえ", "No"),
    "confirm_cancel": (
        "{summary} ({mall}) 주문을 취소할까요?{refund}",
        "{summary}({mall})のご注文をキャンセルしますか?{refund}",
        "Cancel {summary} ({mall})?{refund}",
    ),
    "confirm_cancel_whole": (
        "입금 전 주문은 한꺼번에 취소돼요. 주문 {number} ({malls}) 전체를 취소할까요?",
        "ご入金前のご注文はまとめてキャンセルされます。注文{number}({malls})をすべてキャンセルしますか?",
        "An order not paid yet is cancelled whole. Cancel all of order {number} ({malls})?",
    ),
    "refund_note": (
        " 결제하신 {amount}원은 환불돼요.",
        " お支払いの{amount}ウォンは返金されます。",
        " The {amount} won you paid will be refunded.",
    ),
    "confirm_return": (
        "{summary} ({mall}) 반품을 신청할까요? 상품이 판매처에 도착하면 {amount}원이 환불돼요.",
        "{summary}({mall})の返品を申し込みますか?商品がショップに届くと{amount}ウォンが返金されます。",
        "Request a return of {summary} ({mall})? {amount} won is refunded once the shop has it back.",
    ),
    "confirm_exchange": (
        "{summary} ({mall}) 상품을 {option} 옵션으로 교환 신청할까요?",
        "{summary}({mall})を{option}に交換申請しますか?",
        "Exchange {summary} ({mall}) for {option}?",
    ),
    "dropped": (
        "알겠어요, 아무것도 바꾸지 않았어요. 더 도와드릴 일이 있을까요?",
        "かしこまりました。何も変更していません。他にご用件はありますか?",
        "OK, nothing was changed. Anything else?",
    ),
    "ask_yes_no": (
        "'예' 또는 '아니요'로 답해 주세요.",
        "「はい」か「いいえ」でお答えください。",
        "Please answer Yes or No.",
    ),
    "cancelled": (
        "주문이 취소됐어요.{refund} 취소 안내 메시지도 보내 드렸어요.",
        "ご注文をキャンセルしました。{refund}",
        "Your order is cancelled.{refund}",
    ),
    "refund_started": (
        " 환불 {amount}원이 진행돼요.",
        " {amount}ウォンの返金手続きを行います。",
        " A refund of {amount} won is on its way.",
    ),
    "return_requested": (
        "반품 신청이 접수됐어요. 판매처에서 회수 안내를 드릴 거예요. 상품이 도착하면 {amount}원이 환불돼요.",
        "返品のお申し込みを受け付けました。ショップから回収のご案内があります。届き次第{amount}ウォンを返金します。",
        "Your return is requested. The shop will arrange the pickup; {amount} won is refunded once it arrives.",
    ),
    "exchange_requested": (
        "교환 신청이 접수됐어요. 새 옵션은 재고를 잡아 두었어요.",
        "交換のお申し込みを受け付けました。新しいオプションの在庫を確保しました。",
        "Your exchange is requested; the new size or colour is set aside for you.",
    ),
    "refused": (
        "이 주문은 지금 {what}할 수 없어요: {why} 판매처에 문의를 남겨 드렸어요. 답변이 오면 이곳으로 알려 드릴게요.",
        "このご注文は現在{what}できません:{why} ショップにお問い合わせをお送りしました。回答はこちらでお知らせします。",
        "This order cannot be {what} now: {why} I've passed it to the shop; their answer will come here.",
    ),
    "what_cancel": ("취소", "キャンセル", "cancelled"),
    "what_return": ("반품", "返品", "returned"),
    "what_exchange": ("교환", "交換", "exchanged"),
    "handed_off": (
        "상담 문의를 {to}에 전달했어요. 답변이 오면 이곳으로 알려 드릴게요.",
        "お問い合わせを{to}にお送りしました。回答はこちらでお知らせします。",
        "I've passed your question to {to}. Their answer will come here.",
    ),
    "handed_off_next_message": (
        "상담 문의를 {to}에 전달했어요. 답변이 오면 이 채팅방에 다시 말을 걸어 주실 때 먼저 보여 드릴게요.",
        "お問い合わせを{to}にお送りしました。回答が届いたら、次にメッセージをいただいたときにお見せします。",
        "I've passed your question to {to}. Once they answer, I'll show it the next time you write here.",
    ),
    "shoa_team": ("Shoa 고객센터", "Shoaカスタマーサポート", "Shoa's support team"),
    "address_handed_off": (
        "아직 출고 전이에요. 판매처({mall})에 배송지 변경 요청을 전달했어요. "
        "새 주소를 이어서 보내 주시면 함께 전달할게요.",
        "まだ発送前です。ショップ({mall})にお届け先の変更依頼を送りました。新しい住所を続けて送ってください。",
        "It has not shipped yet. I've asked the shop ({mall}) to change the address; "
        "send the new address next and I'll pass it on.",
    ),
    "address_received": (
        "새 주소를 판매처에 전달했어요. 판매처가 확인하고 이곳으로 답변 드릴 거예요.",
        "新しい住所をショップにお送りしました。ショップが確認してこちらで回答します。",
        "I've passed the new address to the shop; they will confirm it here.",
    ),
    "address_too_late": (
        "이미 {carrier} 택배로 출발해서 배송지를 바꿀 수 없어요. 택배사에 직접 문의해 주세요: {link}",
        "すでに{carrier}で発送済みのため、お届け先を変更できません。配送業者にお問い合わせください:{link}",
        "It has already left with {carrier}, so the address cannot change. Please ask the carrier: {link}",
    ),
    "address_closed": (
        "이 주문은 {state} 상태라 배송지를 바꿀 수 없어요.",
        "このご注文は{state}のため、お届け先を変更できません。",
        "This order is {state}, so its address cannot change.",
    ),
    "tracking": (
        "{summary} ({mall})\n상태: {state}\n택배사: {carrier}\n운송장번호: {tracking}\n배송 조회: {link}",
        "{summary}({mall})\n状態:{state}\n配送業者:{carrier}\n追跡番号:{tracking}\n追跡:{link}",
        "{summary} ({mall})\nState: {state}\nCarrier: {carrier}\nTracking number: {tracking}\nTrack: {link}",
    ),
    "not_shipped": (
        "{summary} ({mall})\n상태: {state}\n아직 출고 전이에요. 출발하면 운송장번호를 메시지로 알려 드릴게요.",
        "{summary}({mall})\n状態:{state}\nまだ発送前です。発送したら追跡番号をお知らせします。",
        "{summary} ({mall})\nState: {state}\nIt has not shipped yet; you'll get the tracking number when it does.",
    ),
    "deposit": (
        "입금하실 계좌예요.\n{bank} {account} (예금주 {holder})\n금액: {amount}원\n입금 기한: {due}",
        "お振込先です。\n{bank} {account}(名義 {holder})\n金額:{amount}ウォン\n期限:{due}",
        "Pay into:\n{bank} {account} (holder {holder})\nAmount: {amount} won\nDue: {due}",
    ),
    "no_deposit": (
        "입금을 기다리는 주문이 아니에요. (현재 상태: {state})",
        "入金待ちのご注文ではありません。(現在の状態:{state})",
        "This order is not waiting for a deposit. (State: {state})",
    ),
    "refund_line": (
        "{summary} ({mall}): {state}, 환불 {refunded}원{pending}",
        "{summary}({mall}):{state}、返金済み{refunded}ウォン{pending}",
        "{summary} ({mall}): {state}, refunded {refunded} won{pending}",
    ),
    "refund_pending": (
        ", 반품 도착 후 {amount}원 환불 예정",
        "、返品到着後{amount}ウォン返金予定",
        ", {amount} won more once the return arrives",
    ),
    "refund_none": (
        "환불된 금액이 없어요.",
        "返金はまだありません。",
        "Nothing has been refunded.",
    ),
    "action_failed": (
        "지금은 처리하지 못했어요. 판매처에 문의를 남겨 드렸어요. 답변이 오면 알려 드릴게요.",
        "現在は処理できませんでした。ショップにお問い合わせをお送りしました。回答をお知らせします。",
        "That did not go through just now. I've passed it to the shop; you'll hear from them.",
    ),
}

STATES: dict[str, tuple[str, str, str]] = {
    "awaiting_payment": ("결제 대기", "決済待ち", "awaiting payment"),
    "awaiting_deposit": ("입금 대기", "入金待ち", "awaiting deposit"),
    "paid": ("결제 완료", "決済完了", "paid"),
    "preparing": ("상품 준비 중", "商品準備中", "being prepared"),
    "shipped": ("배송 중", "配送中", "on its way"),
    "delivered": ("배송 완료", "配達完了", "delivered"),
    "confirmed": ("구매 확정", "購入確定", "confirmed"),
    "cancelled": ("취소됨", "キャンセル済み", "cancelled"),
    "return_requested": ("반품 요청됨", "返品申請中", "return requested"),
    "returned": ("반품 도착", "返品到着", "returned"),
    "refunded": ("환불 완료", "返金完了", "refunded"),
    "exchange_requested": ("교환 요청됨", "交換申請中", "exchange requested"),
    "exchange_shipped": ("교환 상품 배송 중", "交換品配送中", "exchange on its way"),
}

MENU: tuple[tuple[str, str, str], ...] = (
    ("배송 조회", "配送状況", "Track parcel"),
    ("주문 취소", "キャンセル", "Cancel order"),
    ("반품 신청", "返品", "Return"),
    ("교환 신청", "交換", "Exchange"),
    ("환불 조회", "返金状況", "Refund status"),
    ("입금 계좌", "振込先", "Bank transfer"),
    ("배송지 변경", "住所変更", "Change address"),
    ("상담원 연결", "オペレーター", "Talk to staff"),
)
"""The menu's quick replies, each within Kakao's 14 characters; a tapped one is its intent."""

_INDEX = {"ko": 0, "ja": 1, "en": 2}


def say(key: str, locale: Locale, **fields: object) -> str:
    return TEXTS[key][_INDEX[locale]].format(**fields)


def state_name(status: str, locale: Locale) -> str:
    names = STATES.get(status)
    return status if names is None else names[_INDEX[locale]]


def menu(locale: Locale) -> tuple[str, ...]:
    return tuple(entry[_INDEX[locale]] for entry in MENU)


def won(amount: int) -> str:
    return f"{amount:,}"


def moment(value: datetime.datetime, locale: Locale) -> str:
    local = value.astimezone(KOREA)
    if locale == "en":
        return local.strftime("%Y-%m-%d %H:%M (KST)")
    return local.strftime("%Y-%m-%d %H:%M")
