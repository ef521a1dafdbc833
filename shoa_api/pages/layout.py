"""What every page of ``shoa_api.pages`` shares: the document around it, its one stylesheet (and the Content Security
Policy naming it by its hash), tables, and the pages that say why something cannot be shown."""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import TYPE_CHECKING

from shoa_api.pages.sign_in import PAGE_PATH

if TYPE_CHECKING:
    from collections.abc import Iterable

STYLESHEET = """
:root { color-scheme: light; --ink: #1d2430; --muted: #5b6475; --line: #d9dde5; --soft: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, "Apple SD Gothic Neo", "Noto Sans KR", sans-serif; color: var(--ink); }
header, main, footer { max-width: 1080px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.period, .note, .legend { color: var(--muted); margin: 4px 0; }
form { display: flex; flex-wrap: wrap; gap: 12px; align-items: end; margin: 16px 0; padding: 12px;
       background: var(--soft); border-radius: 8px; }
label { display: flex; flex-direction: column; font-size: 13px; color: var(--muted); gap: 2px; }
input, select, button { font: inherit; padding: 4px 8px; }
button { background: #2f6fdb; color: #fff; border: 0; border-radius: 6px; padding: 6px 16px; }
.totals { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 8px; margin: 0; }
.totals div { background: var(--soft); border-radius: 8px; padding: 10px 12px; }
.totals dt { font-size: 13px; color: var(--muted); }
.totals dd { margin: 0; font-size: 20px; font-weight: 700; }
.chart { display: block; max-width: 100%; height: auto; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: right; white-space: nowrap; }
th[scope="row"] { text-align: left; font-weight: 500; white-space: normal; }
caption { text-align: left; color: var(--muted); padding: 4px 0; }
details { margin: 6px 0; }
summary { cursor: pointer; color: var(--muted); }
.problem { max-width: 640px; margin: 64px auto; padding: 0 20px; }
"""
STYLESHEET_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLESHEET.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src '{STYLESHEET_HASH}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""No script, no frame, no request to anywhere: only the page's own stylesheet and its own form."""


def document(title: str, body: str, *, head: str = "") -> str:
    return (
        '<!doctype html><html lang="ko"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="no-referrer">{head}'
        f"<title>{escape(title)} · Shoa</title><style>{STYLESHEET}</style></head>"
        f"<body>{body}</body></html>"
    )


def refusal_page(*, heading: str, message: str, after: str = "") -> str:
    """A page saying what went wrong and what to do; ``after`` is HTML to show below (a form to try again)."""
    return document(heading, f'<main class="problem"><h1>{escape(heading)}</h1><p>{escape(message)}</p>{after}</main>')


def signed_in_page() -> str:
    """Signed in: on to the page at once (a refresh this page starts, so the browser sends the new cookie)."""
    body = (
        '<main class="problem"><h1>로그인했습니다</h1>'
        f'<p><a href="{PAGE_PATH}">인사이트 페이지로 이동</a>합니다. 바뀌지 않으면 눌러 주세요.</p></main>'
    )
    return document("로그인했습니다", body, head=f'<meta http-equiv="refresh" content="0; url={PAGE_PATH}">')


def table(
    headings: list[str], rows: Iterable[list[str]], *, caption: str, ident: str | None = None, row_header: int = 0
) -> str:
    """A table whose column ``row_header`` names each row (a label, a product)."""
    head = "".join(f'<th scope="col">{escape(heading)}</th>' for heading in headings)
    body = "".join(
        "<tr>"
        + "".join(
            f'<th scope="row">{escape(value)}</th>' if index == row_header else f"<td>{escape(value)}</td>"
            for index, value in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    ident_attribute = f' id="{escape(ident)}"' if ident else ""
    return (
        f"<table{ident_attribute}><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )
