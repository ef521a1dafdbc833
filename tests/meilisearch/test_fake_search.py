"""Search on the fake Meilisearch, checked against the v1.14 documentation: matching, filters, sort, facets,
highlighting, pagination and their errors. One catalogue of Korean, Japanese and English products serves all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.meilisearch.assertions import assert_error

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    Settle = Callable[[httpx.Response], dict[str, Any]]
    Search = Callable[..., dict[str, Any]]

PRODUCTS: list[dict[str, Any]] = [
    {
        "id": 1,
        "title": "린넨셔츠 화이트",
        "description": "여름용 시원한 린넨 셔츠",
        "brand": "Ovyn",
        "color": "white",
        "price": 39000,
        "tags": ["summer", "linen"],
        "stock": 3,
        "rating": 4.5,
    },
    {
        "id": 2,
        "title": "데님 팬츠",
        "description": "워싱 데님 와이드 팬츠",
        "brand": "Blue Lab",
        "color": "blue",
        "price": 59000,
        "tags": ["denim"],
        "stock": 0,
        "rating": 4.1,
    },
    {
        "id": 3,
        "title": "Linen shirt",
        "description": "Relaxed linen shirt for summer",
        "brand": "ovyn",
        "color": "beige",
        "price": 45000,
        "tags": [],
        "stock": 12,
        "rating": None,
    },
    {
        "id": 4,
        "title": "Cotton sweater",
        "description": "Warm knitted sweater",
        "brand": "Knit & Co",
        "color": "navy",
        "price": 79000,
        "tags": ["winter"],
        "stock": 5,
    },
    {
        "id": 5,
        "title": "Wool coat",
        "description": "Long wool coat with belt",
        "brand": "Ovyn",
        "color": "black",
        "price": 189000,
        "tags": ["winter", "outer"],
        "stock": 1,
        "rating": 4.8,
    },
    {
        "id": 6,
        "title": "リネンシャツ",
        "description": "夏のリネンシャツ",
        "brand": "Sora",
        "color": "white",
        "price": 42000,
        "tags": ["summer"],
        "stock": 7,
        "rating": 4.0,
    },
]
SETTINGS = {
    "searchableAttributes": ["title", "description", "brand", "tags"],
    "filterableAttributes": ["brand", "color", "price", "tags", "stock", "rating"],
    "sortableAttributes": ["price", "title"],
    "synonyms": {"청바지": ["데님"]},
}


@pytest.fixture
def catalog(http: httpx.Client, settle: Settle) -> str:
    settle(http.post("/indexes", json={"uid": "products", "primaryKey": "id"}))
    settle(http.patch("/indexes/products/settings", json=SETTINGS))
    assert settle(http.post("/indexes/products/documents", json=PRODUCTS))["status"] == "succeeded"
    return "products"


@pytest.fixture
def search(http: httpx.Client, catalog: str) -> Search:
    def run(**parameters: Any) -> dict[str, Any]:
        response = http.post(f"/indexes/{catalog}/search", json=parameters)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    return run


def ids(answer: dict[str, Any]) -> list[Any]:
    return [hit["id"] for hit in answer["hits"]]


# -- matching ----------------------------------------------------------------------------------------------------


def test_the_answer_has_the_documented_fields(search: Search) -> None:
    answer = search(q="linen")
    assert list(answer) == ["hits", "query", "processingTimeMs", "limit", "offset", "estimatedTotalHits"]
    assert (answer["query"], answer["limit"], answer["offset"]) == ("linen", 20, 0)
    assert isinstance(answer["processingTimeMs"], int)


def test_a_korean_word_finds_the_compound_that_starts_with_it(search: Search) -> None:
    assert ids(search(q="린넨")) == [1]
    assert ids(search(q="リネン")) == [6]


def test_a_synonym_finds_what_the_query_word_does_not(search: Search, http: httpx.Client, settle: Settle) -> None:
    assert ids(search(q="청바지")) == [2]
    settle(http.put("/indexes/products/settings/synonyms", json={}))
    assert ids(search(q="청바지")) == []


def test_only_the_last_query_word_is_a_prefix(search: Search) -> None:
    assert ids(search(q="shirt lin")) == [3]
    assert ids(search(q="lin shirt")) == []
    assert ids(search(q="line")) == [3, 1]
    assert ids(search(q="line ")) == []


def test_typos_within_the_allowed_count(search: Search) -> None:
    assert ids(search(q="sweeter")) == [4]
    assert ids(search(q="swetar")) == []
    assert ids(search(q="dweater")) == []
    assert ids(search(q="sweaterrs")) == [4]
    assert ids(search(q="wol")) == []


def test_typo_tolerance_follows_the_settings(search: Search, http: httpx.Client, settle: Settle) -> None:
    settle(http.patch("/indexes/products/settings", json={"typoTolerance": {"disableOnWords": ["sweeter"]}}))
    assert ids(search(q="sweeter")) == []
    settle(http.patch("/indexes/products/settings", json={"typoTolerance": {"disableOnWords": [], "enabled": False}}))
    assert ids(search(q="sweetar")) == []
    assert ids(search(q="sweater")) == [4]


def test_more_matched_words_rank_first_and_matching_strategy(search: Search) -> None:
    assert ids(search(q="linen summer shirt")) == [3, 1]
    assert ids(search(q="wool summer")) == [5]
    assert ids(search(q="wool summer", matchingStrategy="all")) == []
    assert ids(search(q="wool belt", matchingStrategy="all")) == [5]


def test_attribute_order_ranks_matches(search: Search) -> None:
    assert ids(search(q="summer")) == [3, 1, 6]


def test_phrases_and_negative_words(search: Search) -> None:
    assert ids(search(q='"linen shirt"')) == [3]
    assert ids(search(q='"shirt linen"')) == []
    assert ids(search(q="summer -linen")) == [6]


def test_searchable_attributes_and_attributes_to_search_on(
    search: Search, http: httpx.Client, catalog: str, settle: Settle
) -> None:
    assert ids(search(q="belt")) == [5]
    assert ids(search(q="belt", attributesToSearchOn=["title"])) == []
    message = assert_error(
        http.post(f"/indexes/{catalog}/search", json={"q": "belt", "attributesToSearchOn": ["color"]}),
        400,
        "invalid_search_attributes_to_search_on",
    )
    assert message == (
        "Attribute `color` is not searchable. Available searchable attributes are: `title, description, brand, tags`."
    )
    settle(http.put(f"/indexes/{catalog}/settings/searchable-attributes", json=["title"]))
    assert ids(search(q="belt")) == []


def test_stop_words_are_left_out_of_the_query(search: Search, http: httpx.Client, catalog: str, settle: Settle) -> None:
    assert ids(search(q="the wool coat", matchingStrategy="all")) == []
    settle(http.put(f"/indexes/{catalog}/settings/stop-words", json=["the"]))
    assert ids(search(q="the wool coat", matchingStrategy="all")) == [5]


# -- filters -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("color = white", [1, 6]),
        ("brand = OVYN", [1, 3, 5]),
        ("brand = 'Blue Lab'", [2]),
        ('brand = "Knit & Co"', [4]),
        ("color != white", [2, 3, 4, 5]),
        ("price > 59000", [4, 5]),
        ("price >= 59000", [2, 4, 5]),
        ("price < 42000", [1]),
        ("price <= 42000", [1, 6]),
        ("price 40000 TO 60000", [2, 3, 6]),
        ("stock = 0", [2]),
        ("tags = LINEN", [1]),
        ("color IN [white, black]", [1, 5, 6]),
        ("color NOT IN [white, black]", [2, 3, 4]),
        ("rating EXISTS", [1, 2, 3, 5, 6]),
        ("rating NOT EXISTS", [4]),
        ("rating IS NULL", [3]),
        ("rating IS NOT NULL", [1, 2, 4, 5, 6]),
        ("tags IS EMPTY", [3]),
        ("tags IS NOT EMPTY", [1, 2, 4, 5, 6]),
        ("tags = winter AND price < 100000", [4]),
        ("tags = summer OR stock = 0", [1, 2, 6]),
        ("NOT tags = winter", [1, 2, 3, 6]),
        ("(color = white OR color = black) AND price > 40000", [5, 6]),
        ("color = white OR color = black AND price > 40000", [1, 5, 6]),
        ([["color = white", "color = black"], "price > 40000"], [5, 6]),
        (["brand = ovyn", "NOT color = beige"], [1, 5]),
    ],
)
def test_filter_operators(search: Search, expression: Any, expected: list[int]) -> None:
    assert sorted(ids(search(filter=expression))) == expected


def test_filtering_on_an_attribute_that_is_not_filterable(http: httpx.Client, catalog: str) -> None:
    response = http.post(f"/indexes/{catalog}/search", json={"filter": "title = shirt"})
    message = assert_error(response, 400, "invalid_search_filter")
    assert message == (
        "Attribute `title` is not filterable. Available filterable attribute patterns are: `brand`, `color`, "
        "`price`, `rating`, `stock`, `tags`.\n1:6 title = shirt"
    )


def test_filter_syntax_errors(http: httpx.Client, catalog: str) -> None:
    invalid = http.post(f"/indexes/{catalog}/search", json={"filter": "color & white"})
    assert assert_error(invalid, 400, "invalid_search_filter").endswith("at `color & white`.\n1:14 color & white")
    trailing = http.post(f"/indexes/{catalog}/search", json={"filter": "color = white XOR color = blue"})
    assert assert_error(trailing, 400, "invalid_search_filter") == (
        "Found unexpected characters at the end of the filter: `XOR color = blue`. You probably forgot an `OR` or "
        "an `AND` rule.\n15:31 color = white XOR color = blue"
    )
    wrong_type = http.post(f"/indexes/{catalog}/search", json={"filter": True})
    assert assert_error(wrong_type, 400, "invalid_search_filter") == (
        "Invalid syntax for the filter parameter: `expected String, Array, found: true`."
    )


# -- sort --------------------------------------------------------------------------------------------------------


def test_sort(search: Search) -> None:
    assert ids(search(sort=["price:desc"])) == [5, 4, 2, 3, 6, 1]
    assert ids(search(sort=["title:asc"])) == [4, 3, 5, 6, 2, 1]
    assert ids(search(q="summer", sort=["price:asc"])) == [3, 1, 6]


def test_sort_errors(http: httpx.Client, catalog: str, settle: Settle) -> None:
    url = f"/indexes/{catalog}/search"
    message = assert_error(http.post(url, json={"sort": ["stock:asc"]}), 400, "invalid_search_sort")
    assert message == "Attribute `stock` is not sortable. Available sortable attributes are: `price, title`."
    message = assert_error(http.post(url, json={"sort": ["price"]}), 400, "invalid_search_sort")
    assert message == (
        "Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, found `price`."
    )
    settle(http.put(f"/indexes/{catalog}/settings/ranking-rules", json=["words", "typo", "exactness"]))
    message = assert_error(http.post(url, json={"sort": ["price:asc"]}), 400, "invalid_search_sort")
    assert message.startswith("You must specify where `sort` is listed in the rankingRules setting")


def test_custom_ranking_rule(search: Search, http: httpx.Client, settle: Settle, catalog: str) -> None:
    rules = ["words", "typo", "proximity", "attribute", "sort", "exactness", "stock:desc"]
    settle(http.put(f"/indexes/{catalog}/settings/ranking-rules", json=rules))
    assert ids(search()) == [3, 6, 4, 1, 5, 2]


# -- facets ------------------------------------------------------------------------------------------------------


def test_facet_distribution_and_stats(search: Search) -> None:
    answer = search(facets=["brand", "color", "price"])
    assert answer["facetDistribution"]["brand"] == {"Blue Lab": 1, "Knit & Co": 1, "Ovyn": 3, "Sora": 1}
    assert answer["facetDistribution"]["color"] == {
        "beige": 1,
        "black": 1,
        "blue": 1,
        "navy": 1,
        "white": 2,
    }
    assert answer["facetStats"] == {"price": {"min": 39000.0, "max": 189000.0}}
    in_summer = search(q="summer", facets=["color", "rating"])
    assert in_summer["facetDistribution"] == {"color": {"beige": 1, "white": 2}, "rating": {"4": 1, "4.5": 1}}
    assert in_summer["facetStats"] == {"rating": {"min": 4.0, "max": 4.5}}


def test_facet_values_are_capped_and_facets_must_be_filterable(
    search: Search, http: httpx.Client, catalog: str, settle: Settle
) -> None:
    settle(http.patch(f"/indexes/{catalog}/settings", json={"faceting": {"maxValuesPerFacet": 2}}))
    assert search(facets=["color"])["facetDistribution"] == {"color": {"beige": 1, "black": 1}}
    message = assert_error(
        http.post(f"/indexes/{catalog}/search", json={"facets": ["title"]}), 400, "invalid_search_facets"
    )
    assert message == (
        "Invalid facet distribution, attribute `title` is not filterable. The available filterable attributes are "
        "`brand, color, price, rating, stock, tags`."
    )


# -- hits: highlighting, cropping, retrieval ---------------------------------------------------------------------


def test_highlighting(search: Search) -> None:
    answer = search(q="lin", attributesToHighlight=["title"], highlightPreTag="<mark>", highlightPostTag="</mark>")
    formatted = answer["hits"][0]["_formatted"]
    assert formatted["title"] == "<mark>Lin</mark>en shirt"
    assert formatted["description"] == "Relaxed linen shirt for summer"
    assert formatted["price"] == "45000"
    korean = search(q="린넨 셔츠", attributesToHighlight=["*"])["hits"][0]["_formatted"]
    assert korean["title"] == "<em>린넨</em><em>셔츠</em> 화이트"
    assert korean["description"] == "여름용 시원한 <em>린넨</em> <em>셔츠</em>"


def test_cropping_and_match_positions(search: Search) -> None:
    hit = search(q="wool", attributesToCrop=["description:2"], showMatchesPosition=True)["hits"][0]
    assert hit["_formatted"]["description"] == "…wool coat…"
    assert hit["_matchesPosition"]["title"] == [{"start": 0, "length": 4}]
    assert hit["_matchesPosition"]["description"] == [{"start": 5, "length": 4}]


def test_retrieved_and_displayed_attributes(search: Search, http: httpx.Client, catalog: str, settle: Settle) -> None:
    assert search(q="wool", attributesToRetrieve=["title", "price"])["hits"] == [
        {"title": "Wool coat", "price": 189000}
    ]
    settle(http.put(f"/indexes/{catalog}/settings/displayed-attributes", json=["id", "title"]))
    assert search(q="wool", attributesToRetrieve=["title", "price"])["hits"] == [{"title": "Wool coat"}]
    assert search(q="wool")["hits"] == [{"id": 5, "title": "Wool coat"}]


def test_ranking_score(search: Search) -> None:
    hits = search(q="linen summer shirt", showRankingScore=True)["hits"]
    assert hits[0]["_rankingScore"] > hits[1]["_rankingScore"] > 0
    assert ids(search(q="linen summer shirt", rankingScoreThreshold=0.9)) == [3]


# -- pagination --------------------------------------------------------------------------------------------------


def test_offset_limit_and_page_pagination(search: Search) -> None:
    page = search(hitsPerPage=2, page=2)
    assert {key: value for key, value in page.items() if key not in {"hits", "processingTimeMs"}} == {
        "query": "",
        "hitsPerPage": 2,
        "page": 2,
        "totalPages": 3,
        "totalHits": 6,
    }
    assert ids(page) == [3, 4]
    window = search(offset=4, limit=10)
    assert (ids(window), window["offset"], window["limit"], window["estimatedTotalHits"]) == ([5, 6], 4, 10, 6)
    assert search(page=0)["hits"] == []


def test_max_total_hits_caps_results(search: Search, http: httpx.Client, catalog: str, settle: Settle) -> None:
    settle(http.patch(f"/indexes/{catalog}/settings", json={"pagination": {"maxTotalHits": 4}}))
    capped = search(limit=10)
    assert (ids(capped), capped["limit"], capped["estimatedTotalHits"]) == ([1, 2, 3, 4], 10, 4)
    assert ids(search(offset=3, limit=10)) == [4]
    beyond = search(offset=5, limit=10)
    assert (beyond["hits"], beyond["offset"]) == ([], 4)
    paged = search(hitsPerPage=3, page=2)
    assert (ids(paged), paged["totalHits"], paged["totalPages"]) == ([4], 4, 2)


# -- request errors ----------------------------------------------------------------------------------------------


def test_search_parameter_errors(http: httpx.Client, catalog: str) -> None:
    url = f"/indexes/{catalog}/search"
    assert assert_error(http.post(url, json={"query": "shirt"}), 400, "bad_request").startswith(
        "Unknown field `query`: expected one of `q`, "
    )
    assert assert_error(http.post(url, json={"limit": "ten"}), 400, "invalid_search_limit") == (
        'Invalid value type at `.limit`: expected a positive integer, but found a string: `"ten"`'
    )
    assert_error(http.post(url, json={"offset": -1}), 400, "invalid_search_offset")
    assert_error(http.post(url, json={"attributesToHighlight": "title"}), 400, "invalid_search_attributes_to_highlight")
    assert_error(http.post(url, json={"matchingStrategy": "some"}), 400, "invalid_search_matching_strategy")
    assert_error(http.post(url, json={"locales": ["korean"]}), 400, "invalid_search_locales")
    assert http.post(url, json={"q": "린넨", "locales": ["kor"]}).status_code == 200
    missing = http.post("/indexes/nothing/search", json={"q": "shirt"})
    assert assert_error(missing, 404, "index_not_found") == "Index `nothing` not found."
