"""The page parameters every cursor-paged list route takes (``?cursor=&limit=``), declared once."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

MAX_PAGE_SIZE = 100

Limit = Annotated[int, Parameter(ge=1, le=MAX_PAGE_SIZE, description="Items per page, 1 to 100.")]
Cursor = Annotated[
    str | None,
    Parameter(max_length=512, description="`next_cursor` from the previous page; omit for the first."),
]
