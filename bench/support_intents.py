"""``python -m bench support-intents``: how well the chatbot recognises what a shopper's message asks for.

The utterance set (``support/utterances.tsv``: shopper messages in Korean, Japanese and English, each labelled with
its intent and split into a build part and a held-out part) trains :class:`support.intents.IntentClassifier` on
its build part only; every held-out message is then classified and judged: precision, recall and F1 per intent,
their macro average, and which messages of another intent were taken for one of the two that change an order
(``cancel_order``, ``return_request``). The goal (issue 17): macro F1 >= 0.93, and none of those.

The held-out part was read while the features and cue words were written, so the build part is also
cross-validated (5 folds): a second figure that tuning to the held-out part cannot flatter. Beside the shipped
features, the same run measures them with Kiwi's morphemes added (``kiwipiepy``, the ``bench`` extra; skipped when
it is not installed), with its cost in time per message and memory (docs/decisions/0034).
"""

from __future__ import annotations

import importlib
import json
import shlex
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.feed_report import machine_facts
from bench.report import markdown_page, markdown_table, now_utc, save_texts, text_table
from support.intents import (
    ACTIONS,
    MIN_ACTION_CONFIDENCE,
    MIN_CONFIDENCE,
    SHIPPED_UTTERANCES,
    Intent,
    IntentClassifier,
    LabelledUtterance,
    features,
    read_utterances,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

UTTERANCES = SHIPPED_UTTERANCES
MIN_MACRO_F1 = 0.93
FOLDS = 5
SPLITS = ("build", "heldout")
LANGS = ("ko", "ja", "en")
KIWI_TAGS = ("NN", "VV", "VA", "VX", "MA", "XR")
"""Kiwi's part-of-speech tags (by prefix) of the morphemes that carry content: nouns, verbs, adjectives, auxiliary
verbs, adverbs and roots; endings and particles are left to the character features."""
KIWI_TYPOS = "basic_with_continual"
"""Kiwi's typo correction for the third variant: common misspellings and run-on syllables (시퍼요 for 싶어요)."""


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    featurize: Callable[[str], list[str]]
    costs: dict[str, float] = field(default_factory=dict)
    """What setting it up cost the process (Kiwi: seconds to load, RSS growth)."""


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
    """Messages of this intent."""
    predicted: int
    """Messages classified as this intent."""
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
class Judgement:
    """A set of judged messages and what they add up to."""

    judged: list[Judged]

    def scores(self) -> list[IntentScore]:
        support = Counter(j.utterance.intent for j in self.judged)
        predicted = Counter(j.predicted for j in self.judged)
        correct = Counter(j.predicted for j in self.judged if j.predicted is j.utterance.intent)
        return [IntentScore(intent, support[intent], predicted[intent], correct[intent]) for intent in Intent]

    def macro_f1(self) -> float:
        return statistics.fmean(s.f1 for s in self.scores())

    def wrong_actions(self) -> list[Judged]:
        """Messages of another intent taken for one that changes an order."""
        return [j for j in self.judged if j.predicted in ACTIONS and j.predicted is not j.utterance.intent]

    def misses(self) -> list[Judged]:
        return [j for j in self.judged if j.predicted is not j.utterance.intent]


@dataclass(frozen=True)
class VariantResult:
    variant: Variant
    heldout: Judgement
    cross_validated: Judgement
    """Every build line, classified by the model trained on the other folds."""
    seconds: dict[str, float]

    def met(self) -> bool:
        return self.heldout.macro_f1() >= MIN_MACRO_F1 and not self.heldout.wrong_actions()


@dataclass(frozen=True)
class IntentReport:
    command: str
    started_at: str
    counts: dict[str, int]
    """Lines per split and language (``build ko`` ...)."""
    results: list[VariantResult]
    """The shipped features first."""
    skipped: dict[str, str]
    """Variants not measured, and why."""

    def met(self) -> bool:
        """The goal holds for what ships."""
        return self.results[0].met()


def evaluate(
    utterances: Sequence[LabelledUtterance], *, featurize: Callable[[str], list[str]] = features
) -> tuple[list[Judged], dict[str, float]]:
    """Train on the build part, classify the held-out part; the judged messages and the time each step took."""
    started = time.perf_counter()
    classifier = IntentClassifier.train(
        ((u.text, u.intent) for u in utterances if u.split == "build"), featurize=featurize
    )
    trained = time.perf_counter()
    heldout = [u for u in utterances if u.split == "heldout"]
    judged = _classify(classifier, heldout)
    finished = time.perf_counter()
    per_message = (finished - trained) / len(heldout) if heldout else 0.0
    return judged, {"train s": trained - started, "classify ms/message": per_message * 1000}


def cross_validate(
    utterances: Sequence[LabelledUtterance], *, featurize: Callable[[str], list[str]] = features
) -> list[Judged]:
    """Every build line judged by a model trained on the other folds of the build part; line ``i`` is in fold
    ``i % FOLDS``, so each fold takes a share of every intent and language (the file groups lines by both)."""
    build = [u for u in utterances if u.split == "build"]
    judged = []
    for fold in range(FOLDS):
        training = [u for i, u in enumerate(build) if i % FOLDS != fold]
        classifier = IntentClassifier.train(((u.text, u.intent) for u in training), featurize=featurize)
        judged += _classify(classifier, build[fold::FOLDS])
    return judged


def measure(variant: Variant, utterances: Sequence[LabelledUtterance]) -> VariantResult:
    judged, seconds = evaluate(utterances, featurize=variant.featurize)
    folded = cross_validate(utterances, featurize=variant.featurize)
    return VariantResult(variant, Judgement(judged), Judgement(folded), {**seconds, **variant.costs})


def shipped_variant() -> Variant:
    return Variant(
        "shipped", "characters, pairs, jamo triples, Latin words, cue topics (support.intents.features)", features
    )


def kiwi_variants() -> list[Variant]:
    """The shipped features plus the lemma and tag of each content morpheme Kiwi finds, without and with its typo
    correction; none when ``kiwipiepy`` is not installed."""
    before, started = _rss_mib(), time.perf_counter()
    try:
        kiwipiepy = importlib.import_module("kiwipiepy")
    except ImportError:
        return []
    kiwi = kiwipiepy.Kiwi()
    kiwi.tokenize("택배 언제와요")  # the model loads lazily in parts; the first message pays for the rest
    costs = {"load s": time.perf_counter() - started, "load RSS MiB": _rss_mib() - before}

    def with_morphemes(typos: str | None) -> Callable[[str], list[str]]:
        def featurize(text: str) -> list[str]:
            tokens: list[Any] = kiwi.tokenize(text, typos=typos)
            return features(text) + [f"m{t.lemma}/{t.tag}" for t in tokens if t.tag.startswith(KIWI_TAGS)]

        return featurize

    version = metadata.version("kiwipiepy")
    return [
        Variant("kiwi", f"shipped + Kiwi {version} content morphemes (lemma/tag)", with_morphemes(None), costs),
        Variant(
            "kiwi+typos",
            f"shipped + Kiwi {version} content morphemes, typos={KIWI_TYPOS}",
            with_morphemes(KIWI_TYPOS),
            costs,
        ),
    ]


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    print(f"command: {command}")
    utterances = read_utterances(UTTERANCES)
    counts = Counter(f"{u.split} {u.lang}" for u in utterances)
    variants = [shipped_variant(), *kiwi_variants()]
    skipped = {} if len(variants) > 1 else {"kiwi": "kiwipiepy is not installed (pip install -e '.[bench]')"}
    report = IntentReport(
        command=command,
        started_at=started_at,
        counts={f"{split} {lang}": counts[f"{split} {lang}"] for split in SPLITS for lang in LANGS},
        results=[measure(variant, utterances) for variant in variants],
        skipped=skipped,
    )
    print(render_text(report))
    texts = {".json": render_json(report), ".md": render_markdown(report)}
    for path in save_texts(args.output_dir, "support-intents", report.started_at, texts):
        print(f"saved {path}")
    return 0 if report.met() else 1


def _rss_mib() -> float:
    """This process's resident memory now (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _classify(classifier: IntentClassifier, utterances: Sequence[LabelledUtterance]) -> list[Judged]:
    judged = []
    for utterance in utterances:
        result = classifier.classify(utterance.text)
        judged.append(Judged(utterance, result.intent, result.confidence, result.guessed))
    return judged


COLUMNS = ("intent", "held-out", "predicted", "precision", "recall", "F1")
NUMERIC = frozenset({1, 2, 3, 4, 5})
MISS_COLUMNS = ("lang", "intent", "classified as", "model's first", "confidence", "utterance")
MISS_NUMERIC = frozenset({4})
SUMMARY_COLUMNS = (
    "variant", "held-out F1", f"{FOLDS}-fold CV F1", "wrong actions held-out", "wrong actions CV",
    "train s", "classify ms/message", "load s", "load RSS MiB",
)  # fmt: skip
SUMMARY_NUMERIC = frozenset(range(1, 9))


def score_rows(judgement: Judgement) -> list[tuple[str, ...]]:
    scores = judgement.scores()
    rows = [
        (s.intent.value, str(s.support), str(s.predicted), f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}")
        for s in scores
    ]
    macro = (statistics.fmean(s.precision for s in scores), statistics.fmean(s.recall for s in scores))
    total = str(len(judgement.judged))
    return [*rows, ("macro", total, total, f"{macro[0]:.3f}", f"{macro[1]:.3f}", f"{judgement.macro_f1():.3f}")]


def miss_rows(judgement: Judgement) -> list[tuple[str, ...]]:
    return [
        (
            j.utterance.lang,
            j.utterance.intent.value,
            j.predicted.value,
            j.guessed.value,
            f"{j.confidence:.2f}",
            j.utterance.text,
        )
        for j in judgement.misses()
    ]


def summary_rows(report: IntentReport) -> list[tuple[str, ...]]:
    def cost(result: VariantResult, name: str) -> str:
        return f"{result.seconds[name]:.3f}" if name in result.seconds else "-"

    return [
        (
            r.variant.name,
            f"{r.heldout.macro_f1():.3f}",
            f"{r.cross_validated.macro_f1():.3f}",
            str(len(r.heldout.wrong_actions())),
            str(len(r.cross_validated.wrong_actions())),
            cost(r, "train s"),
            cost(r, "classify ms/message"),
            cost(r, "load s"),
            f"{r.seconds['load RSS MiB']:.0f}" if "load RSS MiB" in r.seconds else "-",
        )
        for r in report.results
    ]


def variant_notes(result: VariantResult) -> list[str]:
    wrong = result.heldout.wrong_actions()
    into = Counter(f"{j.utterance.intent.value} -> {j.predicted.value}" for j in wrong)
    by_action = {s.intent: s for s in result.heldout.scores() if s.intent in ACTIONS}
    return [
        f"{result.variant.name}: {result.variant.description}.",
        "precision of the order-changing intents: "
        + ", ".join(f"{intent.value} {score.precision:.3f}" for intent, score in by_action.items())
        + f"; messages of another intent taken for one of them: {len(wrong)}"
        + (f" ({', '.join(f'{pair}: {n}' for pair, n in into.items())})." if wrong else "."),
        f"macro F1 {result.heldout.macro_f1():.3f} held-out, {result.cross_validated.macro_f1():.3f} over "
        f"{FOLDS} folds of the build part (goal >= {MIN_MACRO_F1} held-out; none taken for an action).",
    ]


def notes(report: IntentReport) -> list[str]:
    counts = ", ".join(f"{name} {count}" for name, count in report.counts.items())
    lines = [
        f"lines: {counts}. Trained on the build part only; the tables are the held-out part.",
        f"thresholds: below {MIN_CONFIDENCE} a message is unknown; cancel_order and return_request need "
        f"{MIN_ACTION_CONFIDENCE}, the action's own word, and no refusal (안 할게요, 말고, won't) or past tense.",
        f"CV: build line i in fold i % {FOLDS}, classified by the model trained on the other folds.",
        "load RSS MiB: the process's resident memory growth from importing kiwipiepy to its first message.",
        *(f"{name} skipped: {why}." for name, why in report.skipped.items()),
    ]
    return [*lines, "goal met (shipped features)." if report.met() else "goal NOT met (shipped features)."]


def render_text(report: IntentReport) -> str:
    blocks = []
    for result in report.results:
        blocks += [f"== {result.variant.name}", text_table(COLUMNS, score_rows(result.heldout), NUMERIC)]
        if result.heldout.misses():
            blocks.append(text_table(MISS_COLUMNS, miss_rows(result.heldout), MISS_NUMERIC))
        blocks.append("\n".join(variant_notes(result)))
    blocks += [
        "== summary",
        text_table(SUMMARY_COLUMNS, summary_rows(report), SUMMARY_NUMERIC),
        "\n".join(notes(report)),
    ]
    return "\n\n".join(blocks)


def render_markdown(report: IntentReport) -> str:
    table = [*markdown_table(SUMMARY_COLUMNS, summary_rows(report), SUMMARY_NUMERIC)]
    for result in report.results:
        table += ["", f"## {result.variant.name}", "", *markdown_table(COLUMNS, score_rows(result.heldout), NUMERIC)]
        if result.heldout.misses():
            table += [
                "",
                "Held-out messages classified wrong:",
                "",
                *markdown_table(MISS_COLUMNS, miss_rows(result.heldout), MISS_NUMERIC),
            ]
        table += ["", *(f"- {line}" for line in variant_notes(result))]
    return markdown_page(
        benchmark="support-intents",
        started_at=report.started_at,
        command=report.command,
        table=table,
        notes=notes(report),
        sections={"Lines": report.counts, "Machine": machine_facts()},
    )


def render_json(report: IntentReport) -> str:
    document = {
        "benchmark": "support-intents",
        "command": report.command,
        "started_at": report.started_at,
        "machine": machine_facts(),
        "counts": report.counts,
        "options": {"min_confidence": MIN_CONFIDENCE, "min_action_confidence": MIN_ACTION_CONFIDENCE, "folds": FOLDS},
        "met": report.met(),
        "skipped": report.skipped,
        "variants": [
            {
                "name": r.variant.name,
                "description": r.variant.description,
                "seconds": {name: round(value, 4) for name, value in r.seconds.items()},
                "macro_f1": round(r.heldout.macro_f1(), 4),
                "cv_macro_f1": round(r.cross_validated.macro_f1(), 4),
                "met": r.met(),
                "intents": [
                    {
                        "intent": s.intent.value,
                        "support": s.support,
                        "predicted": s.predicted,
                        "precision": round(s.precision, 4),
                        "recall": round(s.recall, 4),
                        "f1": round(s.f1, 4),
                    }
                    for s in r.heldout.scores()
                ],
                "wrong_actions": [
                    {"utterance": j.utterance.text, "intent": j.utterance.intent.value, "predicted": j.predicted.value}
                    for j in r.heldout.wrong_actions()
                ],
                "cv_wrong_actions": [
                    {"utterance": j.utterance.text, "intent": j.utterance.intent.value, "predicted": j.predicted.value}
                    for j in r.cross_validated.wrong_actions()
                ],
                "misses": [dict(zip(MISS_COLUMNS, row, strict=True)) for row in miss_rows(r.heldout)],
            }
            for r in report.results
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
