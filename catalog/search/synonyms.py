"""The synonym table both engines share: Tantivy expands a query with it (at a lower weight than the word typed),
and Meilisearch receives it as its ``synonyms`` setting. Every group is mutual: each word finds the others.

Words name either an item (what the product is), a material (what it is made of) or a colour, and a group
never mixes them: 데님 is a material, and a denim skirt is not 청바지 (jeans). A group holds a thing's spellings
and loanwords as a Korean shop meets them: the Korean word, its variants, English and Japanese, and the
multi-word name of an item that has a word of its own (청자켓, 데님 자켓). A word of the table is a thing of its
own: Tantivy does not take it for a kind of the word it ends with (반바지 is not 바지, 티셔츠 not 셔츠).
"""

from __future__ import annotations

import functools

from catalog.search.analysis import words

ITEMS: tuple[frozenset[str], ...] = (
    # bottoms
    frozenset({"바지", "팬츠", "pants", "trousers", "パンツ"}),
    frozenset({"청바지", "진", "데님 팬츠", "jeans", "ジーンズ", "デニムパンツ"}),
    frozenset({"반바지", "숏팬츠", "쇼츠", "숏츠", "하프 팬츠", "shorts", "ハーフパンツ", "ショートパンツ"}),
    frozenset({"슬랙스", "slacks", "スラックス"}),
    frozenset({"레깅스", "leggings", "レギンス"}),
    frozenset({"스커트", "치마", "skirt", "スカート"}),
    frozenset({"청치마", "데님 스커트", "denim skirt", "デニムスカート"}),
    # dresses and tops
    frozenset({"원피스", "드레스", "dress", "ワンピース", "ドレス"}),
    frozenset({"블라우스", "blouse", "ブラウス"}),
    frozenset({"셔츠", "남방", "shirt", "シャツ"}),
    frozenset({"티셔츠", "티", "tshirt", "t shirt", "tee", "tシャツ"}),
    frozenset({"맨투맨", "스웻셔츠", "sweatshirt", "スウェット", "トレーナー"}),
    frozenset({"후드", "후디", "후드티", "hoodie", "パーカー"}),
    frozenset({"니트", "스웨터", "sweater", "knit", "ニット", "セーター"}),
    frozenset({"가디건", "카디건", "cardigan", "カーディガン"}),
    frozenset({"볼레로", "bolero", "ボレロ"}),
    frozenset({"조끼", "베스트", "vest", "gilet", "ベスト", "ジレ"}),
    frozenset({"나시", "민소매", "슬리브리스", "sleeveless", "tank top", "ノースリーブ", "タンクトップ"}),
    # outerwear
    frozenset({"자켓", "재킷", "jacket", "ジャケット"}),
    frozenset({"청자켓", "데님 자켓", "데님 재킷", "jean jacket", "denim jacket", "デニムジャケット"}),
    frozenset({"블레이저", "blazer", "ブレザー"}),
    frozenset({"코트", "coat", "コート"}),
    frozenset({"트렌치코트", "trench coat", "trenchcoat", "トレンチコート"}),
    frozenset({"패딩", "푸퍼", "padding", "puffer", "ダウンジャケット"}),
    frozenset({"점퍼", "잠바", "jumper", "ジャンパー"}),
    frozenset({"블루종", "blouson", "ブルゾン"}),
    frozenset({"바람막이", "windbreaker", "ウインドブレーカー"}),
    frozenset({"정장", "수트", "suit", "スーツ"}),
    frozenset({"잠옷", "파자마", "pajamas", "パジャマ"}),
    frozenset({"수영복", "swimsuit", "swimwear", "水着"}),
    # shoes
    frozenset({"스니커즈", "스니커스", "운동화", "sneakers", "sneaker", "スニーカー"}),
    frozenset({"로퍼", "loafers", "loafer", "ローファー"}),
    frozenset({"부츠", "boots", "ブーツ"}),
    frozenset({"샌들", "sandals", "sandal", "サンダル"}),
    frozenset({"슬리퍼", "slippers", "スリッパ"}),
    frozenset({"힐", "하이힐", "heels", "ヒール"}),
    frozenset({"펌프스", "pumps", "パンプス"}),
    # bags and accessories
    frozenset({"가방", "bag", "バッグ"}),
    frozenset({"백팩", "배낭", "backpack", "リュック"}),
    frozenset({"토트백", "tote", "tote bag", "トートバッグ"}),
    frozenset({"숄더백", "shoulder bag", "ショルダーバッグ"}),
    frozenset({"크로스백", "크로스바디백", "crossbody", "crossbody bag"}),
    frozenset({"에코백", "eco bag", "エコバッグ"}),
    frozenset({"클러치", "clutch", "クラッチバッグ"}),
    frozenset({"귀걸이", "귀고리", "이어링", "earrings", "earring", "ピアス", "イヤリング"}),
    frozenset({"목걸이", "necklace", "ネックレス"}),
    frozenset({"반지", "ring", "リング"}),
    frozenset({"팔찌", "bracelet", "ブレスレット"}),
    frozenset({"모자", "hat", "帽子"}),
    frozenset({"볼캡", "야구모자", "캡모자", "cap", "baseball cap", "キャップ"}),
    frozenset({"비니", "beanie", "ニット帽"}),
    frozenset({"버킷햇", "벙거지", "bucket hat", "バケットハット"}),
    frozenset({"목도리", "머플러", "muffler", "マフラー"}),
    frozenset({"스카프", "scarf", "スカーフ"}),
    frozenset({"벨트", "belt", "ベルト"}),
    frozenset({"양말", "socks", "靴下"}),
)
"""Names of one item."""

MATERIALS: tuple[frozenset[str], ...] = (
    frozenset({"데님", "denim", "デニム"}),
    frozenset({"린넨", "리넨", "linen"}),
    frozenset({"가죽", "레더", "leather", "レザー"}),
    frozenset({"울", "wool", "ウール"}),
    frozenset({"캐시미어", "cashmere", "カシミヤ"}),
    frozenset({"코튼", "면", "cotton", "コットン"}),
    frozenset({"실크", "silk", "シルク"}),
    frozenset({"새틴", "satin", "サテン"}),
    frozenset({"쉬폰", "시폰", "chiffon", "シフォン"}),
    frozenset({"트위드", "tweed", "ツイード"}),
    frozenset({"코듀로이", "골덴", "corduroy", "コーデュロイ"}),
    frozenset({"스웨이드", "suede", "スエード"}),
    frozenset({"플리스", "후리스", "fleece", "フリース"}),
    frozenset({"나일론", "nylon", "ナイロン"}),
    frozenset({"모헤어", "mohair", "モヘア"}),
    frozenset({"캔버스", "canvas", "キャンバス"}),
    frozenset({"벨벳", "velvet", "ベルベット"}),
)
"""Names of one material."""

COLOURS: tuple[frozenset[str], ...] = (
    frozenset({"블랙", "검정", "검정색", "black", "ブラック"}),
    frozenset({"화이트", "흰색", "white", "ホワイト"}),
    frozenset({"그레이", "회색", "grey", "gray", "グレー"}),
    frozenset({"네이비", "남색", "navy", "ネイビー"}),
    frozenset({"베이지", "beige", "ベージュ"}),
    frozenset({"아이보리", "ivory", "アイボリー"}),
    frozenset({"크림", "cream", "クリーム"}),
    frozenset({"브라운", "갈색", "brown", "ブラウン"}),
    frozenset({"카키", "khaki", "カーキ"}),
    frozenset({"레드", "빨강", "빨간색", "red", "レッド"}),
    frozenset({"핑크", "분홍", "분홍색", "pink", "ピンク"}),
    frozenset({"블루", "파랑", "파란색", "blue", "ブルー"}),
    frozenset({"스카이블루", "하늘색", "sky blue", "サックス"}),
    frozenset({"그린", "초록", "초록색", "green", "グリーン"}),
    frozenset({"옐로우", "노랑", "노란색", "yellow", "イエロー"}),
    frozenset({"퍼플", "보라", "보라색", "purple", "パープル"}),
    frozenset({"라벤더", "lavender", "ラベンダー"}),
    frozenset({"민트", "mint", "ミント"}),
    frozenset({"차콜", "charcoal", "チャコール"}),
    frozenset({"카멜", "camel", "キャメル"}),
    frozenset({"버건디", "와인", "burgundy", "ボルドー"}),
    frozenset({"올리브", "olive", "オリーブ"}),
    frozenset({"오렌지", "orange", "オレンジ"}),
    frozenset({"실버", "은색", "silver", "シルバー"}),
    frozenset({"골드", "금색", "gold", "ゴールド"}),
)
"""Names of one colour."""

SYNONYMS: tuple[frozenset[str], ...] = ITEMS + MATERIALS + COLOURS
"""Every group; each word of a group finds the others (mutual synonyms)."""


@functools.cache
def synonym_table() -> dict[str, tuple[str, ...]]:
    """Each word of ``SYNONYMS`` as analysis writes it (normalized, a phrase's words joined by one space), and the
    other words of its groups."""
    others: dict[str, set[str]] = {}
    for group in SYNONYMS:
        normalized = {" ".join(word.text for word in words(member)) for member in group}
        for member in normalized:
            others.setdefault(member, set()).update(normalized - {member})
    return {member: tuple(sorted(alternatives)) for member, alternatives in others.items()}
