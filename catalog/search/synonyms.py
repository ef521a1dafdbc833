"""The synonym table both engines share: Tantivy expands a query with it (at a lower weight than the word typed),
and Meilisearch receives it as its ``synonyms`` setting."""

from __future__ import annotations

SYNONYMS: tuple[frozenset[str], ...] = (
    frozenset({"청바지", "데님", "jeans", "denim", "ジーンズ"}),
    frozenset({"원피스", "드레스", "dress", "ワンピース"}),
    frozenset({"자켓", "재킷", "jacket", "ジャケット"}),
    frozenset({"셔츠", "남방", "shirt", "シャツ"}),
    frozenset({"티셔츠", "tshirt", "tシャツ"}),
    frozenset({"니트", "스웨터", "sweater", "knit", "ニット"}),
    frozenset({"가디건", "카디건", "cardigan", "カーディガン"}),
    frozenset({"스커트", "치마", "skirt", "スカート"}),
    frozenset({"슬랙스", "slacks"}),
    frozenset({"코트", "coat", "コート"}),
    frozenset({"린넨", "리넨", "linen"}),
    frozenset({"블라우스", "blouse", "ブラウス"}),
    frozenset({"스니커즈", "스니커스", "운동화", "sneakers", "スニーカー"}),
    frozenset({"후드", "후디", "hoodie", "パーカー"}),
    frozenset({"점퍼", "잠바", "jumper"}),
    frozenset({"조끼", "베스트", "vest"}),
    frozenset({"목도리", "머플러", "muffler"}),
    frozenset({"토트백", "tote", "トートバッグ"}),
)
"""Words shoppers use for the same thing; each word of a group finds the others (mutual synonyms)."""
