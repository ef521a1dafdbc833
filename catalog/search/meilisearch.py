"""The Meilisearch engine: the index's settings applied, documents written, and searches answered.

The index lags the database by the worker's turn (about a second): a product hidden or a mall paused a moment
ago may still be in it. Every page is therefore checked against the database before it is shown, and facet
values of malls no longer listed are left out. The index is declared in ``meilisearch_index``, a query becomes a
request in ``meilisearch_query``, documents are built by ``documents``, and the worker (``indexing``) sends them.

Docs followed (Meilisearch v1.14): reference/api/indexes, reference/api/settings, reference/api/documents,
reference/api/search, reference/api/tasks, learn/filtering_and_sorting/filter_expression_reference.
"""

from __future__ import annotations

import asyncio
import html
import logging
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from catalog.search.engine import (
    MAX_RESULTS,
    Facets,
    MallRef,
    SearchHit,
    SearchQuery,
    SearchResults,
    price_facet,
    sort_facet,
    total_pages,
)
from catalog.search.errors import SearchTaskFailedError, SearchUnavailableError
from catalog.search.meilisearch_index import INDEX_UID, PRIMARY_KEY, settings_changes
from catalog.search.meilisearch_query import HIGHLIGHT_END, HIGHLIGHT_START, search_request
from catalog.search.visibility import visible_now

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger(__name__)


class MeilisearchEngine:
    """Product search on a Meilisearch index; also the index's writer for the worker."""

    name = "meilisearch"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        url: str,
        key: str,
        index_uid: str = INDEX_UID,
        task_timeout: float = 30.0,
        settings_timeout: float = 600.0,
    ) -> None:
        self._http = http
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.index_uid = index_uid
        self._task_timeout = task_timeout
        self._settings_timeout = settings_timeout
        """Settings changes re-index every document: on a large index they take minutes, not seconds."""

    # -- the index -------------------------------------------------------------------------------------------

    async def prepare(self) -> bool:
        """The worker's first step: :meth:`apply_settings`; whether the index had to be created (it is then
        empty, and the worker queues every product for it)."""
        created = await self._index() is None
        await self.apply_settings()
        return created

    async def apply_settings(self) -> None:
        """Create the index if missing, then bring its settings to ``INDEX_SETTINGS``; idempotent.

        Waits for every task it starts (and for settings changes already queued, so that a restart during a
        long re-indexing does not queue the same change again); raises ``SearchTaskFailedError`` if one fails.
        """
        index = await self._index()
        if index is None:
            await self._create_index()
        elif index.get("primaryKey") is None:
            answer = await self._call("PATCH", f"/indexes/{self.index_uid}", {"primaryKey": PRIMARY_KEY})
            await self.wait_for_task(answer["taskUid"], within=self._settings_timeout)
        elif index["primaryKey"] != PRIMARY_KEY:
            msg = f"index {self.index_uid} has the primary key {index['primaryKey']!r}, not {PRIMARY_KEY!r}"
            raise SearchUnavailableError(msg)
        for pending in await self._pending_settings_tasks():
            await self.wait_for_task(pending, within=self._settings_timeout)
        current = await self._call("GET", f"/indexes/{self.index_uid}/settings")
        changes = settings_changes(current)
        if changes:
            logger.info("Meilisearch index %s: updating settings %s", self.index_uid, ", ".join(changes))
            answer = await self._call("PATCH", f"/indexes/{self.index_uid}/settings", changes)
            await self.wait_for_task(answer["taskUid"], within=self._settings_timeout)

    async def _index(self) -> dict[str, Any] | None:
        response = await self._send("GET", f"/indexes/{self.index_uid}")
        if response.status_code == 404 and _error_code(response) == "index_not_found":
            return None
        index: dict[str, Any] = _answer(response, "GET", f"/indexes/{self.index_uid}")
        return index

    async def _create_index(self) -> None:
        answer = await self._call("POST", "/indexes", {"uid": self.index_uid, "primaryKey": PRIMARY_KEY})
        try:
            await self.wait_for_task(answer["taskUid"], within=self._settings_timeout)
        except SearchTaskFailedError as exc:
            # Another worker created it first: what we wanted.
            if (exc.task.get("error") or {}).get("code") != "index_already_exists":
                raise

    async def _pending_settings_tasks(self) -> list[int]:
        answer = await self._call(
            "GET",
            "/tasks",
            params={
                "indexUids": self.index_uid,
                "types": "indexCreation,indexUpdate,settingsUpdate",
                "statuses": "enqueued,processing",
            },
        )
        return sorted(task["uid"] for task in answer["results"])

    # -- documents -------------------------------------------------------------------------------------------

    async def upsert_documents(self, documents: Sequence[dict[str, Any]]) -> None:
        """Add or replace ``documents`` and wait until Meilisearch has them."""
        await self.apply_changes(upserts=documents, deletes=())

    async def delete_documents(self, ids: Sequence[str]) -> None:
        await self.apply_changes(upserts=(), deletes=ids)

    async def apply_changes(self, *, upserts: Sequence[dict[str, Any]], deletes: Sequence[str]) -> None:
        """Send both writes, then wait for both tasks (Meilisearch runs them in the order they were sent)."""
        tasks: list[int] = []
        if upserts:
            path = f"/indexes/{self.index_uid}/documents"
            answer = await self._call("POST", path, list(upserts), params={"primaryKey": PRIMARY_KEY})
            tasks.append(answer["taskUid"])
        if deletes:
            answer = await self._call("POST", f"/indexes/{self.index_uid}/documents/delete-batch", list(deletes))
            tasks.append(answer["taskUid"])
        for task in tasks:
            await self.wait_for_task(task)

    async def wait_for_task(self, task_uid: int, *, within: float | None = None) -> dict[str, Any]:
        """Poll ``GET /tasks/{uid}`` until the task succeeded; raise ``SearchTaskFailedError`` otherwise."""
        limit = self._task_timeout if within is None else within
        pause = 0.01
        try:
            async with asyncio.timeout(limit):
                while True:
                    task: dict[str, Any] = await self._call("GET", f"/tasks/{task_uid}")
                    status = task.get("status")
                    if status == "succeeded":
                        return task
                    if status in {"failed", "canceled"}:
                        error = task.get("error") or {}
                        msg = (
                            f"Meilisearch task {task_uid} ({task.get('type')} on {task.get('indexUid')}) {status}: "
                            f"{error.get('code', '-')}: {error.get('message', '')}"
                        )
                        raise SearchTaskFailedError(msg, task=task)
                    await asyncio.sleep(pause)
                    pause = min(pause * 1.5, 0.25)
        except TimeoutError as exc:
            msg = f"Meilisearch task {task_uid} did not finish within {limit:g} s"
            raise SearchTaskFailedError(msg) from exc

    # -- search ----------------------------------------------------------------------------------------------

    async def search(self, session: AsyncSession, query: SearchQuery) -> SearchResults:
        path = f"/indexes/{self.index_uid}/search"
        answer = _answer(await self._send("POST", path, search_request(query)), "POST", path, shape=_SearchAnswer)
        hits = answer.hits
        distribution = answer.facet_distribution or {}
        hit_ids = [hit.id for hit in hits]
        facet_malls = [_uuid_or_none(value) for value in distribution.get("mall_id", {})]
        visible, listed_malls = await visible_now(session, hit_ids, [mall for mall in facet_malls if mall is not None])
        items = [_hit(hit, visible[hit.id]) for hit in hits if hit.id in visible]
        total = min(answer.total_hits, MAX_RESULTS)
        mall_counts = {mall: count for mall, count in distribution.get("mall_id", {}).items() if mall in listed_malls}
        facets = Facets(
            category=sort_facet(distribution.get("categories", {})),
            mall=sort_facet(mall_counts, listed_malls),
            style=sort_facet(distribution.get("style_tags", {})),
            color=sort_facet(distribution.get("colors", {})),
            size=sort_facet(distribution.get("sizes", {})),
            price=price_facet(distribution.get("price_bucket", {})),
        )
        return SearchResults(
            items=items,
            page=query.page,
            per_page=query.per_page,
            total=total,
            total_pages=total_pages(total, query.per_page),
            facets=facets,
        )

    # -- HTTP ------------------------------------------------------------------------------------------------

    async def _send(
        self, method: str, path: str, body: Any = None, *, params: dict[str, str] | None = None
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method,
                f"{self._url}{path}",
                content=None if body is None else msgspec.json.encode(body),
                params=params,
                headers=self._headers,
            )
        except httpx.HTTPError as exc:
            msg = f"Meilisearch {method} {path}: {type(exc).__name__}: {exc}"
            raise SearchUnavailableError(msg) from exc

    async def _call(self, method: str, path: str, body: Any = None, *, params: dict[str, str] | None = None) -> Any:
        return _answer(await self._send(method, path, body, params=params), method, path)


def _answer(response: httpx.Response, method: str, path: str, *, shape: Any = Any) -> Any:
    """The body of a successful answer, as ``shape`` when given; any other answer, or a body that is not JSON of
    that shape (a proxy's page, another version's answer), is a :class:`SearchUnavailableError`."""
    if response.is_success:
        try:
            return msgspec.json.decode(response.content, type=shape)
        except msgspec.DecodeError as exc:
            msg = f"Meilisearch {method} {path}: answered {response.status_code} with a body that is not {_what(shape)}"
            raise SearchUnavailableError(msg) from exc
    code, message = _error_code(response), ""
    try:
        message = str(msgspec.json.decode(response.content).get("message", ""))
    except (msgspec.DecodeError, AttributeError):
        message = response.text[:200]
    msg = f"Meilisearch {method} {path}: {response.status_code} {code or '-'}: {message}"
    if response.status_code < 500:
        # Our request was refused: a bug on our side or a wrong key, not a passing outage.
        logger.error("%s", msg)
    raise SearchUnavailableError(msg)


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return None
    return str(body.get("code")) if isinstance(body, dict) and body.get("code") else None


# -- the answer ----------------------------------------------------------------------------------------------


class _Formatted(msgspec.Struct):
    name: str | None = None


class _Hit(msgspec.Struct, kw_only=True):
    """A document as the search answers it: the fields a product tile needs, and its highlighted name."""

    id: uuid.UUID
    name: str
    category_path: str
    price: int
    price_from: int
    currency: str
    in_stock: bool
    exclusive: bool
    image_url: str | None = None
    formatted: _Formatted | None = msgspec.field(default=None, name="_formatted")


class _SearchAnswer(msgspec.Struct, rename="camel"):
    """A page-based search's answer (``page`` and ``hitsPerPage`` asked): an answer without hits and a total is
    not an empty result."""

    hits: list[_Hit]
    total_hits: int
    facet_distribution: dict[str, dict[str, int]] | None = None


def _what(shape: Any) -> str:
    return "JSON" if shape is Any else f"JSON of the documented shape ({shape.__name__.lstrip('_')})"


def _hit(hit: _Hit, mall: MallRef) -> SearchHit:
    marked = hit.formatted.name if hit.formatted is not None else None
    highlighted = html.escape(marked if marked is not None else hit.name)
    return SearchHit(
        id=hit.id,
        name=hit.name,
        highlighted_name=highlighted.replace(HIGHLIGHT_START, "<em>").replace(HIGHLIGHT_END, "</em>"),
        image_url=hit.image_url or "",
        category_path=hit.category_path,
        price=hit.price,
        price_from=hit.price_from,
        currency=hit.currency,
        in_stock=hit.in_stock,
        exclusive=hit.exclusive,
        mall=mall,
    )


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
