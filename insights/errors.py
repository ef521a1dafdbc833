"""Mall insights' refusals: a stable code and an HTTP-agnostic status that the web layer maps to problem details.

Each is about one query parameter, named in the problem's ``errors`` with ``"source": "query"``.
"""

from __future__ import annotations

from typing import Any

from shoa_kernel.errors import DomainError


class InsightsError(DomainError):
    code = "insights-error"
    status = 422
    title = "Insights request refused"

    def __init__(self, detail: str, *, parameter: str | None = None) -> None:
        super().__init__(detail)
        self.extra: dict[str, Any] = (
            {"errors": [{"field": parameter, "source": "query", "message": detail}]} if parameter else {}
        )


class InvalidPeriodError(InsightsError):
    code = "invalid-period"
    title = "The period is not one insights can report"


class UnknownSegmentError(InsightsError):
    code = "unknown-segment"
    title = "Unknown segment"


class UnknownCategoryError(InsightsError):
    code = "unknown-category"
    title = "Unknown category"
