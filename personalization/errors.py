"""Personalization errors: a stable code and an HTTP-agnostic status that the web layer maps to problem details."""

from __future__ import annotations

from shoa_kernel.errors import DomainError


class PersonalizationError(DomainError):
    code = "personalization-error"
    status = 400
    title = "Request refused"


class InvalidEventBatchError(PersonalizationError):
    code = "invalid-event-batch"
    status = 422
    title = "The events do not have the expected shape"


class MalformedEventsError(PersonalizationError):
    code = "malformed-json"
    status = 400
    title = "The body is not valid JSON"


class MissingDeviceError(PersonalizationError):
    code = "missing-device-id"
    status = 401
    title = "Events need a device id or a logged-in shopper"


class TooManyEventsError(PersonalizationError):
    code = "too-many-events"
    status = 429
    title = "Too many events"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class LikedProductNotFoundError(PersonalizationError):
    code = "product-not-found"
    status = 404
    title = "No such product"


class FeedExpiredError(PersonalizationError):
    code = "feed-expired"
    status = 422
    title = "The feed behind this cursor has expired"
