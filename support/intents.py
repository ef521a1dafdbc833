"""What a shopper's chat message asks for: one :class:`Intent` out of a short message in colloquial Korean
(typos, no spaces, 여/요/염 endings), Japanese or English.

A softmax (multinomial logistic) regression, trained in pure Python, over the characters and character pairs of
the message with its spaces and punctuation removed, Hangul letter (jamo) triples so that a typo such as 반푸 or
배숑 still shares features with 반품 or 배송, Latin words, and cue-word topics (:data:`CUES`: delivery, refund,
pending ...) with their pairs. It trains in well under a second from labelled lines (the build part of
``support/utterances.tsv``, shipped with the package: :func:`train_shipped_classifier`) and needs no morphological
analyser, so the API process stays small (docs/decisions/0034).

Two intents change an order (``cancel_order``, ``return_request``), so they are held to more than the model's
word: the message must name the action (취소, 반품, キャンセル, return ...), must not refuse it (안 할게요, 말고,
じゃなくて, won't) nor speak of it as done (취소한거 환불 ...), and the model must be surer than for the other
intents. Below its threshold a message is ``unknown``, which the chatbot answers with a menu.
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping


class Intent(StrEnum):
    TRACK_DELIVERY = "track_delivery"
    CANCEL_ORDER = "cancel_order"
    RETURN_REQUEST = "return_request"
    REFUND_STATUS = "refund_status"
    EXCHANGE = "exchange"
    DEPOSIT_INFO = "deposit_info"
    CHANGE_ADDRESS = "change_address"
    HUMAN_AGENT = "human_agent"
    UNKNOWN = "unknown"


ACTIONS = frozenset({Intent.CANCEL_ORDER, Intent.RETURN_REQUEST})
"""Intents that change an order: recognised only on an explicit, unrefused request."""
MIN_CONFIDENCE = 0.35
"""Below this posterior the message is ``unknown``."""
MIN_ACTION_CONFIDENCE = 0.6
"""The stricter floor for :data:`ACTIONS`."""
SHIPPED_UTTERANCES = Path(__file__).resolve().parent / "utterances.tsv"
"""The labelled utterance set (package data): its build part trains the classifier, its held-out part measures it
(``python -m bench support-intents``)."""
EPOCHS = 15
LEARNING_RATE = 0.2
L2 = 0.001

_CANCEL_CUES = r"취소|취쇼|캔슬|철회|キャンセル|取り消|取消|cancel"
_RETURN_CUES = r"반품|반푸|반송|돌려보내|돌려보낼|返品|返送|return|sendit?back"
_REFUSED = r"\w{0,3}?(?:안|않|말고|말구|지마|대신|じゃ|では|しな|しません|やめ)"
"""Right after the action's word: 취소 안 할게요, 반품은 안할게요, 반품 말고, 취소하지 마세요, キャンセルはしません,
返品じゃなくて."""
_REFUSING = re.compile(r"\b(?:won['\u2019]?t|don['\u2019]?t|do not|not|never|no)\b(?:\W+\w+){0,3}?\W+(?:cancel|return)")
"""Before the action's word, in English words: won't cancel, not a return, don't want to return it."""
_ACTION_CUES = {
    Intent.CANCEL_ORDER: re.compile(_CANCEL_CUES),
    Intent.RETURN_REQUEST: re.compile(_RETURN_CUES),
}
_ACTION_REFUSALS = {
    intent: re.compile(rf"(?:{cues}){_REFUSED}")
    for intent, cues in ((Intent.CANCEL_ORDER, _CANCEL_CUES), (Intent.RETURN_REQUEST, _RETURN_CUES))
}
_DONE = re.compile(
    r"(?:취소|캔슬|반품)(?:했|한거|한것|한지|한게|된|됐|되었|처리된)"
    r"|キャンセルした(?!い)|返品した(?!い)|cancelled|canceled|returned"
)
"""The action spoken of as done (취소한거 환불 언제돼요): a question about it, not a request."""
CUES: dict[str, str] = {
    # Words that name what a message is about, in the three languages, matched inside the spaceless, folded
    # text. They are features like the n-grams (the model weighs them), so they need not be exclusive: 배송 is
    # about delivery in 배송조회 and about the address in 배송지.
    "delivery": "배송 배숑 택배 송장 운송장 도착 발송 출고 출발 届 配送 追跡 発送 荷物 到着 "
    "track ship arriv deliver parcel package",
    "arrival": "언제와 언제오 안와 안오 어디쯤 어디있 어디에있 받을수 どこ いつ届 where whenwill hasnt yet",
    "lookup": "조회 확인 상태 알려 状況 確認 status check",
    "cancel": "취소 취쇼 캔슬 철회 キャンセル 取り消 取消 cancel",
    "return": "반품 반푸 반송 돌려보내 돌려보낼 返品 返送 return sendback senditback",
    "refund": "환불 돌려받 返金 払い戻 refund moneyback mymoney",
    "pending": "아직 언제 됐 되었 처리 진행 소식 며칠 몇일 まだ いつ yet when still gonethrough status",
    "exchange": "교환 교횐 교체 바꾸 바꿔 바꿀 바꿈 交換 取り替 exchange swap instead",
    "variant": "사이즈 치수 색 컬러 블랙 화이트 아이보리 큰 작은 サイズ 色 size colo bigger smaller",
    "deposit": "입금 계좌 무통장 송금 이체 振込 振り込 入金 口座 account transfer deposit bank payinto",
    "amount_due": "얼마 기한 마감 까지 유효기간 金額 いくら 期限 いつまで howmuch deadline due",
    "address": "주소 배송지 수령지 받는곳 동호수 호수 우편번호 住所 届け先 配送先 部屋番号 address shipitto shipto",
    "person": "상담 사람 직원 담당자 매니저 사장님 판매자 고객센터 オペレーター 担当者 人と スタッフ 有人 "
    "human agent person staff representative operator customerservice",
    "connect": "연결 통화 전화 불러 얘기 대화 직접 つない 話 聞き talk speak chat connect",
    "pleasantry": "안녕 감사 고마 수고 ㅎㅇ ㅋㅋ ㅎㅎ こんにちは ありがとう よろしく hello thank thx",
    "product": "재입고 신상 세일 쿠폰 재고 있나요 있어요 在庫 ありますか instock doyouhave",
}
"""Cue words by topic, separated by spaces: a feature ``k<topic>`` for each topic one of whose words a message
contains."""
_TOPICS = {topic: re.compile("|".join(map(re.escape, words.split()))) for topic, words in CUES.items()}
_PUNCTUATION = re.compile(r"[\W_]+")
_REPEATS = re.compile(r"(.)\1{2,}")
_LATIN_WORD = re.compile(r"[a-z0-9']+")
_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
_LEADS = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_VOWELS = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_TAILS = ("", *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ")


def normalize(text: str) -> str:
    """NFKC, lower case, no spaces or punctuation, and no character repeated more than twice (ㅋㅋㅋㅋ, ???)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _REPEATS.sub(r"\1\1", _PUNCTUATION.sub("", folded))


def jamo(text: str) -> str:
    """Hangul syllables spelled out in their letters (환불 -> ㅎㅘㄴㅂㅜㄹ); anything else as it is."""
    letters = []
    for char in text:
        code = ord(char) - _HANGUL_FIRST
        if 0 <= code <= _HANGUL_LAST - _HANGUL_FIRST:
            letters += [_LEADS[code // 588], _VOWELS[code % 588 // 28], _TAILS[code % 28]]
        else:
            letters.append(char)
    return "".join(letters)


def features(text: str) -> list[str]:
    """What the model weighs: characters and character pairs of the spaceless text (with edge marks), Hangul
    letter triples, Latin words, the :data:`CUES` topics present and each pair of them."""
    compact = normalize(text)
    marked = f"^{compact}$"
    found = [f"c{marked[i : i + size]}" for size in (1, 2) for i in range(len(marked) - size + 1)]
    letters = jamo(compact)
    if letters != compact:
        found += [f"j{letters[i : i + 3]}" for i in range(len(letters) - 2)]
    folded = unicodedata.normalize("NFKC", text).casefold()
    found += [f"w{word}" for word in _LATIN_WORD.findall(folded)]
    topics = [f"k{topic}" for topic, pattern in _TOPICS.items() if pattern.search(compact)]
    # Pairs of topics tell apart what one topic cannot: refund + pending is a status question, cancel alone is not.
    found += topics + [f"{first}&{second}" for i, first in enumerate(topics) for second in topics[i + 1 :]]
    return found


@dataclass(frozen=True)
class Classification:
    intent: Intent
    confidence: float
    """The model's posterior for ``intent`` (for ``unknown`` chosen by the fallback, the best rejected one's)."""
    guessed: Intent
    """What the model ranked first before the thresholds and the action guards."""


@dataclass(frozen=True)
class LabelledUtterance:
    split: str
    """``build`` (trains the model) or ``heldout`` (only measures it)."""
    lang: str
    intent: Intent
    text: str


def read_utterances(path: Path) -> list[LabelledUtterance]:
    """The lines of a tab-separated file with the columns ``split``, ``lang``, ``intent`` and ``utterance``."""
    with path.open(encoding="utf-8", newline="") as file:
        rows = csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [
            LabelledUtterance(split=row["split"], lang=row["lang"], intent=Intent(row["intent"]), text=row["utterance"])
            for row in rows
        ]


@dataclass(frozen=True)
class IntentClassifier:
    weights: Mapping[str, Mapping[Intent, float]]
    """Each feature's weight toward each intent (features never seen in training have none)."""
    biases: Mapping[Intent, float]
    featurize: Callable[[str], list[str]] = features
    """What the model weighs of a message: :func:`features` unless the benchmark measures another set."""

    @classmethod
    def train(
        cls, examples: Iterable[tuple[str, Intent]], *, featurize: Callable[[str], list[str]] = features
    ) -> IntentClassifier:
        """Softmax regression by stochastic gradient descent over the examples in their order, a fixed number
        of passes: deterministic, and a few hundred milliseconds for a few hundred lines."""
        texts = [(text, intent) for text, intent in examples]
        intents = sorted({intent for _, intent in texts})
        column = {intent: i for i, intent in enumerate(intents)}
        index: dict[str, int] = {}
        rows = [
            ([index.setdefault(feature, len(index)) for feature in sorted(set(featurize(text)))], column[intent])
            for text, intent in texts
        ]
        table = [[0.0] * len(intents) for _ in index]
        bias = [0.0] * len(intents)
        for epoch in range(EPOCHS):
            rate = LEARNING_RATE / (1 + epoch / 10)
            shrink = 1 - rate * L2
            for found, truth in rows:
                scores = bias.copy()
                for feature in found:
                    scores = [score + weight for score, weight in zip(scores, table[feature], strict=True)]
                top = max(scores)
                exponentials = [math.exp(score - top) for score in scores]
                total = sum(exponentials)
                steps = [rate * ((i == truth) - value / total) for i, value in enumerate(exponentials)]
                bias = [b + step for b, step in zip(bias, steps, strict=True)]
                for feature in found:
                    table[feature] = [w * shrink + step for w, step in zip(table[feature], steps, strict=True)]
        weights = {feature: dict(zip(intents, table[i], strict=True)) for feature, i in index.items()}
        biases = dict(zip(intents, bias, strict=True))
        return cls(weights=weights, biases=biases, featurize=featurize)

    def posteriors(self, text: str) -> dict[Intent, float]:
        """Each trained intent's probability for ``text``, summing to 1."""
        return _softmax(self.biases, self.weights, self.featurize(text))

    def classify(self, text: str) -> Classification:
        ranked = sorted(self.posteriors(text).items(), key=lambda pair: pair[1], reverse=True)
        if not ranked or not normalize(text):
            return Classification(Intent.UNKNOWN, 0.0, Intent.UNKNOWN)
        guessed = ranked[0][0]
        compact, words = normalize(text), unicodedata.normalize("NFKC", text).casefold()
        ruled_out = 0.0
        for intent, probability in ranked:
            if ruled_out >= 1 - 1e-9:
                break
            confidence = probability / (1 - ruled_out)
            if intent in ACTIONS and not _asks_for_action(intent, compact, words):
                # The message says it is not this action (no word for it, refused, or done): what is left is
                # conditioned on that.
                ruled_out += probability
                continue
            if intent in ACTIONS and confidence < MIN_ACTION_CONFIDENCE:
                break
            if confidence < MIN_CONFIDENCE:
                break
            return Classification(intent, confidence, guessed)
        return Classification(Intent.UNKNOWN, ranked[0][1], guessed)


def train_shipped_classifier() -> IntentClassifier:
    """The classifier trained on the build part of :data:`SHIPPED_UTTERANCES`: about a third of a second, so the
    app trains it once at start-up and keeps it."""
    utterances = read_utterances(SHIPPED_UTTERANCES)
    return IntentClassifier.train((u.text, u.intent) for u in utterances if u.split == "build")


def _softmax(
    biases: Mapping[Intent, float], weights: Mapping[str, Mapping[Intent, float]], found: Iterable[str]
) -> dict[Intent, float]:
    scores = dict(biases)
    for feature in set(found):
        for intent, weight in weights.get(feature, {}).items():
            scores[intent] += weight
    top = max(scores.values(), default=0.0)
    exponentials = {intent: math.exp(score - top) for intent, score in scores.items()}
    total = sum(exponentials.values())
    return {intent: value / total for intent, value in exponentials.items()}


def _asks_for_action(intent: Intent, compact: str, words: str) -> bool:
    """The message names the action, and neither refuses it nor speaks of it as done. ``compact`` is the
    normalized message, ``words`` the folded one with its spaces."""
    return (
        bool(_ACTION_CUES[intent].search(compact))
        and not _ACTION_REFUSALS[intent].search(compact)
        and not _REFUSING.search(words)
        and not _DONE.search(compact)
    )
