"""The base of every domain's errors: the web layer maps any of them to problem details in one place."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal with a stable ``code``, an HTTP-agnostic ``status`` and ``title``, and a human ``detail``.

    Each domain subclasses it once (``CatalogError``, ``AccountError``…) and names its errors under that; the web
    layer (``shoa_api.errors``) answers them as RFC 9457 problem details. ``field`` names the input a refusal is
    about, when it is about one.
    """

    code = "request-refused"
    status = 400
    title = "Request refused"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
