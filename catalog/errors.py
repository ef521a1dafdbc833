"""Catalog errors: a stable code and an HTTP-agnostic status that the web layer maps to problem details."""

from __future__ import annotations

from shoa_kernel.errors import DomainError


class CatalogError(DomainError):
    code = "catalog-error"
    status = 400
    title = "Catalog request refused"


class MallNotFoundError(CatalogError):
    code = "mall-not-found"
    status = 404
    title = "Mall not found"


class InvalidCursorError(CatalogError):
    """A ``cursor`` that names no page of the list: not one this API gave out. 404, as for any address that names
    nothing (the cursor is part of the page's address); no schema can tell a real cursor from a made-up one."""

    code = "invalid-cursor"
    status = 404
    title = "Invalid cursor"


class MallExistsError(CatalogError):
    code = "mall-exists"
    status = 409
    title = "A mall already uses that slug"


class InvalidMallError(CatalogError):
    code = "invalid-mall"
    status = 422
    title = "The mall has invalid fields"


class InvalidApiKeyError(CatalogError):
    code = "invalid-api-key"
    status = 401
    title = "The API key is missing, unknown, expired or revoked"


class MissingScopeError(CatalogError):
    code = "missing-scope"
    status = 403
    title = "The API key lacks the scope this needs"


class ApiKeyNotFoundError(CatalogError):
    code = "api-key-not-found"
    status = 404
    title = "No such API key for this mall"


class MalformedBatchError(CatalogError):
    code = "malformed-json"
    status = 400
    title = "The body is not valid JSON"


class InvalidBatchError(CatalogError):
    code = "invalid-batch"
    status = 422
    title = "The batch does not have the expected shape"


class ProductNotFoundError(CatalogError):
    code = "product-not-found"
    status = 404
    title = "No such product"


class InvalidProductChangeError(CatalogError):
    code = "invalid-product-change"
    status = 422
    title = "The change is not valid for this product"


class InvalidSearchError(CatalogError):
    code = "invalid-search"
    status = 422
    title = "The search has invalid parameters"
