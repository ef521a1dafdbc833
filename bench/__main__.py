"""``python -m bench BENCHMARK``: run one benchmark, print its table and save it as JSON and Markdown."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

from bench import (
    checkout,
    events,
    feed_quality,
    http,
    index,
    manipulation,
    mix,
    notify,
    rollup,
    search,
    search_quality,
    support,
    support_intents,
    sync,
    winback,
)
from bench.load import LoadGeneratorError
from bench.server import ServerError
from shoa_api.runtime import EmbeddedServiceError
from shoa_api.settings import SettingsError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

Benchmark = Callable[[argparse.Namespace], int]
Number = TypeVar("Number", int, float)

BENCHMARKS: dict[str, tuple[str, Benchmark]] = {
    "http": ("requests/s, latency and memory of Shoa endpoints against a bare Litestar app", http.run),
    "sync": ("partner catalog sync through the API against a raw COPY of the same rows", sync.run),
    "search": ("the Tantivy search engine over a large catalog against a bare Litestar app", search.run),
    "index": (
        "a catalog into an empty Tantivy index through `shoa worker` against raw Tantivy; a partner change's freshness",
        index.run,
    ),
    "search-quality": (
        "a search engine's P@10 and NDCG@10 on the judged relevance set (tests/catalog/search/relevance)",
        search_quality.run,
    ),
    "support": (
        "the chatbot's KakaoTalk skill endpoint under shoppers' conversations against a bare Litestar app",
        support.run,
    ),
    "support-intents": (
        "the chatbot's intent recognition: precision, recall and F1 per intent on the held-out utterances",
        support_intents.run,
    ),
    "feed-quality": ("the feed's NDCG@20 per segment on held-out purchases vs two baselines", feed_quality.run),
    "manipulation": (
        "attacks by one device, 100 devices and a ring of accounts: how far they move products in every feed, "
        "ranking and the popularity sort",
        manipulation.run,
    ),
    "rollup": ("the worker's score roll-up against copying every score each minute", rollup.run),
    "notify": (
        "messages through enqueue, the outbox and real workers against raw POSTs of the same bodies",
        notify.run,
    ),
    "checkout": (
        "shoppers checking out in parallel through the API against raw conditional stock UPDATEs",
        checkout.run,
    ),
    "events": (
        "behaviour events through POST /v1/events into the event store against a raw COPY of the same rows",
        events.run,
    ),
    "winback": (
        "win-back over a simulated population: sends, suppressions, the hold-out's uplift against the model's; "
        "a restock wave through the worker's job against raw outbox inserts",
        winback.run,
    ),
    "mix": (
        "a realistic traffic mix (feed, search, product pages, likes, cart, checkout, chatbot, partner sync) with "
        "the worker running, against a bare Litestar app",
        mix.run,
    ),
}

EXPECTED_ERRORS = (
    http.BenchmarkError,
    index.BenchmarkError,
    notify.BenchmarkError,
    checkout.BenchmarkError,
    events.BenchmarkError,
    winback.BenchmarkError,
    mix.BenchmarkError,
    LoadGeneratorError,
    ServerError,
    EmbeddedServiceError,
    SettingsError,
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    benchmark: Benchmark = args.benchmark
    # SIGTERM unwinds like Ctrl-C, so every server and embedded service is stopped on the way out.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return benchmark(args)
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        return 130
    except EXPECTED_ERRORS as exc:
        print(f"\nbench: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Run one benchmark, print its table and save it as JSON and Markdown."
    )
    commands = parser.add_subparsers(required=True, metavar="BENCHMARK")
    for name, (summary, benchmark) in BENCHMARKS.items():
        command = commands.add_parser(name, help=summary, description=summary)
        _add_load_options(command)
        if name == "support":
            command.set_defaults(connections=support.CONNECTIONS)
        if name == "mix":
            command.set_defaults(duration=300.0, warmup=10.0, connections=32)
        if name == "sync":
            command.set_defaults(rounds=5)  # a round is about 6 s a side at the default size
        default_products = {"search": 100_000, "index": 100_000, "checkout": 100_000, "events": 5_000,
                            "winback": 1_000, "mix": 100_000}.get(name, 20_000)  # fmt: skip
        command.add_argument(
            "--products",
            type=_positive(int),
            default=default_products,
            help="sync (a round), search, index, feed-quality, manipulation, rollup, checkout, events, winback, mix: "
            "products",
        )
        command.add_argument("--batch", type=_positive(int), default=500, help="sync: products per request")
        command.add_argument(
            "--shoppers",
            type=_positive(int),
            default={"winback": 3_000, "mix": 10_000}.get(name, 100),
            help="feed-quality, manipulation: shoppers per segment; winback: the simulated population; mix: shoppers",
        )
        command.add_argument(
            "--seed",
            type=int,
            default=20261129,
            help="feed-quality, manipulation: the population's random seed; checkout: baskets; support: shoppers and orders; "
            "events: the batches; winback: the population, its carts, the falls and the purchases",
        )
        command.add_argument(
            "--seeds",
            type=_positive(int),
            default=4,
            help="feed-quality: populations, from --seed on, each on a catalog of its own; the result is their mean",
        )
        command.add_argument(
            "--no-rankings",
            action="store_true",
            help="manipulation: leave out GET /v1/rankings (its realtime window needs a minute's wait per attack)",
        )
        command.add_argument(
            "--device-age-days",
            type=_positive(float, zero=True),
            default=30.0,
            help="feed-quality, manipulation: how long before their week the server first saw the organic "
            "population's anonymous devices (0: new to it, counting nothing)",
        )
        command.add_argument(
            "--checkouts", type=_positive(int), default=3_000, help="checkout: checkouts measured a round"
        )
        command.add_argument(
            "--engine", choices=sorted(search_quality.ENGINES), default="tantivy", help="search-quality: the engine"
        )
        command.add_argument("--changes", type=_positive(int), default=100, help="index: partner changes timed")
        command.add_argument("--messages", type=_positive(int), default=10_000, help="notify: messages a round")
        command.add_argument("--workers", type=_positive(int), default=2, help="notify: `shoa worker` processes")
        command.add_argument(
            "--base-rate",
            type=_positive(float),
            default=4.0,
            help="winback: percent of shoppers who buy a decision's product within 7 days without a message",
        )
        command.add_argument(
            "--uplift",
            type=_positive(float, zero=True),
            default=6.0,
            help="winback: percentage points a sent message adds to --base-rate (the uplift the hold-out must find)",
        )
        command.add_argument(
            "--waiting",
            type=_positive(int),
            default=100_000,
            help="winback: shoppers waiting for each round's restock",
        )
        command.set_defaults(benchmark=benchmark)
    return parser


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        type=_positive(float),
        default=8.0,
        help="seconds per measured run (events: the API's side of a round; the baseline runs as long)",
    )
    parser.add_argument(
        "--rounds",
        type=_positive(int),
        default=3,
        help="interleaved rounds of the measured side and its baseline, the baseline running as long as the side "
        "(bench.rounds); a ratio is the median of the rounds' own ratios (sync: 5 unless given)",
    )
    parser.add_argument("--warmup", type=_positive(float, zero=True), default=3.0, help="seconds of warm-up")
    parser.add_argument(
        "--connections",
        type=_positive(int),
        default=16,
        help="concurrent connections (k6 VUs; checkout: shoppers; support: 32 unless given)",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("bench/results"), help="where JSON and Markdown go")


def _positive(kind: type[Number], *, zero: bool = False) -> Callable[[str], Number]:
    def parse(text: str) -> Number:
        value = kind(text)
        if value < 0 or (value == 0 and not zero):
            msg = f"must be {'at least 0' if zero else 'more than 0'}, got {text}"
            raise argparse.ArgumentTypeError(msg)
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its error for a malformed value
    return parse


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
