"""``python -m bench support-intents``: how well the chatbot recognises what a shopper's message asks for.

The utterance set (``tests/support/utterances.tsv``: shopper messages in Korean, Japanese and English, each
labelled with its intent and split into a build part and a held-out part) trains
:class:`support.intents.IntentClassifier` on its build part only; every held-out message is then classified and
judged: precision, recall and F1 per intent, their macro average, and which messages of another intent were taken
for one of the two that change an order (``cancel_order``, ``return_request``). The goal (issue 17): macro F1 >=
0.93, and none of those.
"""

from __future__ import annotations

import json
import shlex
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.feed_report import machine_facts
from bench.report import markdown_page, markdown_table, now_utc, save_texts, text_table
from support.intents import (
    ACTIONS,
    MIN_ACTION_CONFIDENCE,
    MIN_CONFIDENCE,
    Intent,
    IntentClassifier,
    LabelledUtterance,
    read_utterances,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

UTTERANCES = Path(__file__).resolve().parent.parent / "tests" / "support" / "utterances.tsv"
MIN_MACRO_F1 = 0.93
SPLITS = ("build", "heldout")
LANGS = ("ko", "ja", "en")


@dataclass(frozen=True)
class Judged:
    utterance: LabelledUtterance
    predicted: Intent
    confidence: float
    guessed: Intent
    """The model's first choice, before the thresholds and the order-action guards."""


@dataclass(frozen=True)
class IntentScore:
    intent: Intent
    support: int
    """Held-out messages of this intent."""
    predicted: int
    """Held-out messages classified as this intent."""
    correct: int

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.support if self.support else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


@dataclass(frozen=True)
class IntentReport:
    command: str
    started_at: str
    counts: dict[str, int]
    """Lines per split and language (``build ko`` ...)."""
    seconds: dict[str, float]
    judged: list[Judged]

    def scores(self) -> list[IntentScore]:
        support = Counter(j.utterance.intent for j in self.judged)
        predicted = Counter(j.predicted for j in self.judged)
        correct = Counter(j.predicted for j in self.judged if j.predicted is j.utterance.intent)
        return [IntentScore(intent, support[intent], predicted[intent], correct[intent]) for intent in Intent]

    def macro_f1(self) -> float:
        return statistics.fmean(score.f1 for score in self.scores())

    def wrong_actions(self) -> list[Judged]:
        """Held-out messages of another intent taken for one that changes an order."""
        return [j for j in self.judged if j.predicted in ACTIONS and j.predicted is not j.utterance.intent]

    def misses(self) -> list[Judged]:
        return [j for j in self.judged if j.predicted is not j.utterance.intent]

    def met(self) -> bool:
        return self.macro_f1() >= MIN_MACRO_F1 and not self.wrong_actions()


def evaluate(utterances: Sequence[LabelledUtterance]) -> tuple[list[Judged], dict[str, float]]:
    """Train on the build part, classify the held-out part; the judged messages and the time each step took."""
    started = time.perf_counter()
    classifier = IntentClassifier.train((u.text, u.intent) for u in utterances if u.split == "build")
    trained = time.perf_counter()
    heldout = [u for u in utterances if u.split == "heldout"]
    judged = []
    for utterance in heldout:
        result = classifier.classify(utterance.text)
        judged.append(Judged(utterance, result.intent, result.confidence, result.guessed))
    finished = time.perf_counter()
    per_message = (finished - trained) / len(heldout) if heldout else 0.0
    return judged, {"train s": trained - started, "classify ms/message": per_message * 1000}


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    print(f"command: {command}")
    utterances = read_utterances(UTTERANCES)
    counts = Counter(f"{u.split} {u.lang}" for u in utterances)
    judged, seconds = evaluate(utterances)
    report = IntentReport(
        command=command,
        started_at=started_at,
        counts={f"{split} {lang}": counts[f"{split} {lang}"] for split in SPLITS for lang in LANGS},
        seconds=seconds,
        judged=judged,
    )
    print(render_text(report))
    texts = {".json": render_json(report), ".md": render_markdown(report)}
    for path in save_texts(args.output_dir, "support-intents", report.started_at, texts):
        print(f"saved {path}")
    return 0 if report.met() else 1


COLUMNS = ("intent", "held-out", "predicted", "precision", "recall", "F1")
NUMERIC = frozenset({1, 2, 3, 4, 5})
MISS_COLUMNS = ("lang", "intent", "classified as", "model's first", "confidence", "utterance")
MISS_NUMERIC = frozenset({4})


def score_rows(report: IntentReport) -> list[tuple[str, ...]]:
    rows = [
        (s.intent.value, str(s.support), str(s.predicted), f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}")
        for s in report.scores()
    ]
    scores = report.scores()
    macro = (statistics.fmean(s.precision for s in scores), statistics.fmean(s.recall for s in scores))
    total = str(len(report.judged))
    return [*rows, ("macro", total, total, f"{macro[0]:.3f}", f"{macro[1]:.3f}", f"{report.macro_f1():.3f}")]


def miss_rows(report: IntentReport) -> list[tuple[str, ...]]:
    return [
        (
            j.utterance.lang,
            j.utterance.intent.value,
            j.predicted.value,
            j.guessed.value,
            f"{j.confidence:.2f}",
            j.utterance.text,
        )
        for j in report.misses()
    ]


def notes(report: IntentReport) -> list[str]:
    counts = ", ".join(f"{name} {count}" for name, count in report.counts.items())
    wrong = report.wrong_actions()
    into = Counter(f"{j.utterance.intent.value} -> {j.predicted.value}" for j in wrong)
    by_action = {s.intent: s for s in report.scores() if s.intent in ACTIONS}
    return [
        f"lines: {counts}. Trained on the build part only; the table is the held-out part.",
        f"thresholds: below {MIN_CONFIDENCE} a message is unknown; cancel_order and return_request need "
        f"{MIN_ACTION_CONFIDENCE}, the action's own word, and no refusal (안 할게요, 말고, won't) or past tense.",
        "precision of the order-changing intents: "
        + ", ".join(f"{intent.value} {score.precision:.3f}" for intent, score in by_action.items())
        + f"; messages of another intent taken for one of them: {len(wrong)}"
        + (f" ({', '.join(f'{pair}: {n}' for pair, n in into.items())})." if wrong else "."),
        f"macro F1 {report.macro_f1():.3f} (goal >= {MIN_MACRO_F1}; none taken for an action).",
        "goal met." if report.met() else "goal NOT met.",
    ]


def render_text(report: IntentReport) -> str:
    timing = ", ".join(f"{name} {value:.3f}" for name, value in report.seconds.items())
    blocks = [text_table(COLUMNS, score_rows(report), NUMERIC)]
    if report.misses():
        blocks.append(text_table(MISS_COLUMNS, miss_rows(report), MISS_NUMERIC))
    return "\n\n".join([*blocks, "\n".join([*notes(report), f"time: {timing}"])])


def render_markdown(report: IntentReport) -> str:
    table = [*markdown_table(COLUMNS, score_rows(report), NUMERIC)]
    if report.misses():
        table += [
            "",
            "Held-out messages classified wrong:",
            "",
            *markdown_table(MISS_COLUMNS, miss_rows(report), MISS_NUMERIC),
        ]
    return markdown_page(
        benchmark="support-intents",
        started_at=report.started_at,
        command=report.command,
        table=table,
        notes=notes(report),
        sections={
            "Time": {name: f"{value:.3f}" for name, value in report.seconds.items()},
            "Lines": report.counts,
            "Machine": machine_facts(),
        },
    )


def render_json(report: IntentReport) -> str:
    document = {
        "benchmark": "support-intents",
        "command": report.command,
        "started_at": report.started_at,
        "machine": machine_facts(),
        "counts": report.counts,
        "seconds": {name: round(value, 4) for name, value in report.seconds.items()},
        "options": {"min_confidence": MIN_CONFIDENCE, "min_action_confidence": MIN_ACTION_CONFIDENCE},
        "macro_f1": round(report.macro_f1(), 4),
        "met": report.met(),
        "intents": [
            {
                "intent": s.intent.value,
                "support": s.support,
                "predicted": s.predicted,
                "precision": round(s.precision, 4),
                "recall": round(s.recall, 4),
                "f1": round(s.f1, 4),
            }
            for s in report.scores()
        ],
        "wrong_actions": [
            {"utterance": j.utterance.text, "intent": j.utterance.intent.value, "predicted": j.predicted.value}
            for j in report.wrong_actions()
        ],
        "misses": [dict(zip(MISS_COLUMNS, row, strict=True)) for row in miss_rows(report)],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
