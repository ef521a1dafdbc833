"""The requests of ``python -m bench mix``: which kinds, in what shares, their bodies, the k6 script that plays
them, and k6's summary read back per kind. Pure: nothing here starts a process or opens a connection."""

from __future__ import annotations

import datetime
import json
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from bench.search import QUERIES
from bench.support import BOT_ID, GREETINGS, QUESTIONS, skill_request
from catalog.demo_products import generate_product

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    weight: float
    """Percent of the iterations; the issue's 70/20/8/2, with the chatbot and partner syncs on top."""


KINDS = (
    Kind("feed_anonymous", "GET /v1/feed (anonymous)", 15.0),
    Kind("feed_shopper", "GET /v1/feed (logged-in shopper)", 20.0),
    Kind("search", "GET /v1/search", 35.0),
    Kind("product", "GET /v1/products/{id}", 12.0),
    Kind("like", "PUT /v1/likes/{id}", 8.0),
    Kind("cart", "PUT /v1/cart/items/{id}", 8.0),
    Kind("checkout", "POST /v1/orders", 2.0),
    Kind("chat", "POST /webhooks/chat/kakao", 1.0),
    Kind("partner_sync", "PUT /partner/v1/products (10 products)", 0.2),
)
REQUESTS_PER_KIND = 2_000
"""Distinct prepared requests per kind; k6 picks one at random each time."""
SYNC_BATCH = 10
SYNC_NUMBERS_FROM = 5_000_000
"""Partner-synced products are numbered from here, apart from the seeded catalog's."""
ADDRESS = {"postcode": "04044", "road_address": "서울특별시 마포구 양화로 45", "detail": "101동 1203호",
           "recipient": "김하루", "phone": "010-1234-5678"}  # fmt: skip
SEARCH_WORDS = ("린넨", "셔츠", "원피스", "니트", "슬랙스", "블라우스", "가디건", "코트", "스커트", "자켓")
TREND_STATS = "avg,p(50),p(95),p(99),count"

# Each iteration draws a kind by its weight and one of its prepared requests. Answers are checked by status
# only: 2xx, and nothing else, counts as success (a sold-out 409 at checkout would be a failure too).
K6_SCRIPT = """\
import http from 'k6/http';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { Counter, Trend } from 'k6/metrics';

const plan = JSON.parse(open(__ENV.PLAN));
const requests = {};
const latency = {};
const failed = {};
const non2xx = {};
let total = 0;
const cumulative = [];
for (const kind of plan.kinds) {
  requests[kind.name] = new SharedArray(kind.name, () => plan.requests[kind.name]);
  latency[kind.name] = new Trend(`kind_${kind.name}`, true);
  failed[kind.name] = new Counter(`failed_${kind.name}`);
  non2xx[kind.name] = new Counter(`non_2xx_${kind.name}`);
  total += kind.weight;
  cumulative.push([total, kind.name]);
}
export const options = { discardResponseBodies: true };
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }));

export default function () {
  const draw = Math.random() * total;
  const name = cumulative.find(([upTo]) => draw < upTo)[1];
  const list = requests[name];
  const request = list[Math.floor(Math.random() * list.length)];
  const headers = Object.assign({}, request.headers);
  if (request.idempotent) {
    headers['Idempotency-Key'] = `${__ENV.RUN}-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  }
  let body = request.body;
  if (body !== null && __ENV.PLACEHOLDER) {
    body = body.split(__ENV.PLACEHOLDER).join(`${__ENV.RUN}-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`);
  }
  const response = http.request(request.method, __ENV.BASE + request.path, body, { headers });
  latency[name].add(response.timings.duration);
  if (response.status < 200 || response.status >= 300) {
    failed[name].add(1);
    if (response.status !== 0) {
      non2xx[name].add(1);
    }
  }
}
"""
USER_KEY = "{chat_user}"
"""Where k6 puts a fresh botUserKey in a chat turn's body: every turn is a new conversation's first."""


@dataclass(frozen=True, kw_only=True)
class Population:
    """What the requests refer to: products and variants on sale, shoppers' tokens, the partner's key."""

    products: Sequence[uuid.UUID]
    variants: Sequence[uuid.UUID]
    """Variants with stock to spare for the run's checkouts."""
    authorizations: Sequence[str]
    partner_authorization: str
    chat_secret: str


def request_plan(population: Population, *, seed: int, per_kind: int = REQUESTS_PER_KIND) -> dict[str, Any]:
    """The JSON k6 reads: the kinds with their weights, and ``per_kind`` requests of each."""
    rng = random.Random(seed)

    def shopper() -> dict[str, str]:
        return {"Authorization": rng.choice(population.authorizations)}

    def json_headers(**extra: str) -> dict[str, str]:
        return {"Content-Type": "application/json", **extra}

    def one(kind: str) -> dict[str, Any]:  # noqa: PLR0911 - one return per kind of request
        if kind == "feed_anonymous":
            return _request("GET", f"/v1/feed?limit={rng.choice((20, 20, 50))}")
        if kind == "feed_shopper":
            return _request("GET", f"/v1/feed?limit={rng.choice((20, 20, 50))}", headers=shopper())
        if kind == "search":
            return _request("GET", search_path(rng))
        if kind == "product":
            return _request("GET", f"/v1/products/{rng.choice(population.products)}")
        if kind == "like":
            return _request("PUT", f"/v1/likes/{rng.choice(population.products)}", headers=shopper())
        if kind == "cart":
            body = json.dumps({"quantity": rng.randint(1, 2)})
            headers = json_headers(**shopper())
            return _request("PUT", f"/v1/cart/items/{rng.choice(population.variants)}", body=body, headers=headers)
        if kind == "checkout":
            body = json.dumps({"address": ADDRESS, "payment_method": "card",
                               "lines": [{"variant_id": str(rng.choice(population.variants)), "quantity": 1}]},
                              ensure_ascii=False)  # fmt: skip
            return _request("POST", "/v1/orders", body=body, headers=json_headers(**shopper()), idempotent=True)
        if kind == "chat":
            utterance = rng.choice(GREETINGS + QUESTIONS)
            body = json.dumps(skill_request(USER_KEY, utterance, bot_id=BOT_ID), ensure_ascii=False)
            headers = json_headers(**{"X-Shoa-Skill-Secret": population.chat_secret})
            return _request("POST", "/webhooks/chat/kakao", body=body, headers=headers)
        if kind == "partner_sync":
            headers = json_headers(Authorization=population.partner_authorization)
            return _request("PUT", "/partner/v1/products", body=sync_body(rng), headers=headers)
        msg = f"no requests for kind {kind}"
        raise ValueError(msg)

    return {
        "kinds": [{"name": kind.name, "weight": kind.weight} for kind in KINDS],
        "requests": {kind.name: [one(kind.name) for _ in range(per_kind)] for kind in KINDS},
    }


def search_path(rng: random.Random, *, per_page: int | None = None) -> str:
    """A shopper's search: one of ``bench search``'s queries or a word, a page of 1 to 3."""
    query = dict(rng.choice(QUERIES)) if rng.random() < 0.5 else {"q": rng.choice(SEARCH_WORDS)}
    query.setdefault("page", str(rng.randint(1, 3)))
    if per_page is not None:
        query["per_page"] = str(per_page)
    return f"/v1/search?{urlencode(query)}"


def sync_body(rng: random.Random) -> str:
    """One of 100 batches of a partner's products: the first time each is created, afterwards updated."""
    first = SYNC_NUMBERS_FROM + SYNC_BATCH * rng.randrange(100)
    now = datetime.datetime.now(datetime.UTC)
    products = [generate_product(random.Random(n), n, now=now) for n in range(first, first + SYNC_BATCH)]
    return json.dumps({"products": products}, ensure_ascii=False, default=str)


def _request(
    method: str, path: str, *, body: str | None = None, headers: dict[str, str] | None = None, idempotent: bool = False
) -> dict[str, Any]:
    return {"method": method, "path": path, "body": body, "headers": headers or {}, "idempotent": idempotent}
