"""Win-back's refusals: a stable code and an HTTP-agnostic status that the web layer maps to problem details."""

from __future__ import annotations

from shoa_kernel.errors import DomainError


class WinbackError(DomainError):
    code = "winback-error"
    status = 422
    title = "Win-back request refused"


class VariantNotFoundError(WinbackError):
    code = "variant-not-found"
    status = 404
    title = "No such product option"


class VariantInStockError(WinbackError):
    code = "variant-in-stock"
    status = 409
    title = "This option is in stock"


class LinkNotFoundError(WinbackError):
    code = "link-not-found"
    status = 404
    title = "No such message link"
