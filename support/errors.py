"""The chatbot's refusals, each a problem-details answer with a stable code."""

from __future__ import annotations

from shoa_kernel.errors import DomainError


class SupportError(DomainError):
    code = "support-error"
    status = 400
    title = "Support request refused"


class WebhookNotVerifiedError(SupportError):
    """A chat webhook whose signature or secret does not verify: nothing of it is read or kept."""

    code = "chat-webhook-not-verified"
    status = 401
    title = "Webhook not verified"


class InvalidChatEventError(SupportError):
    code = "invalid-chat-event"
    status = 400
    title = "The webhook's body is not the platform's event"


class TooManyTurnsError(SupportError):
    """A messenger user past the chatbot's turns per minute: not answered (every answer is a message sent)."""

    code = "too-many-chat-messages"
    status = 429
    title = "Too many chat messages"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class InquiryNotFoundError(SupportError):
    code = "inquiry-not-found"
    status = 404
    title = "Inquiry not found"


class InquiryClosedError(SupportError):
    code = "inquiry-closed"
    status = 409
    title = "The inquiry is closed"


class ReplyKeyReusedError(SupportError):
    code = "idempotency-key-reused"
    status = 422
    title = "Idempotency-Key reused with another body"


class InvalidCursorError(SupportError):
    """A ``cursor`` that names no page of the list: not one this API gave out. 404, as for any address that names
    nothing (the cursor is part of the page's address); no schema can tell a real cursor from a made-up one."""

    code = "invalid-cursor"
    status = 404
    title = "Invalid cursor"
