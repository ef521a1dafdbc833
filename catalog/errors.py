"""Catalog errors: a stable code and an HTTP-agnostic status that the web layer maps to problem details."""

from __future__ import annotations


class CatalogError(Exception):
    code = "catalog-error"
    status = 400
    title = "Catalog request refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class MallNotFoundError(CatalogError):
    code = "mall-not-found"
    status = 404
    title = "Mall not found"


class InvalidCursorError(CatalogError):
    code = "invalid-cursor"
    status = 422
    title = "Invalid cursor"
