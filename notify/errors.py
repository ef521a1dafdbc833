"""Messaging errors: refusals at enqueueing, unknown messages and providers, and broken template files.

A refusal at enqueueing is a bug in the calling service (an event kind or a parameter its templates do not
know): it raises in the caller's transaction, before anything is stored, never at send time.
"""

from __future__ import annotations

from shoa_kernel.errors import DomainError


class NotifyError(DomainError):
    code = "notify-error"
    status = 400
    title = "Messaging request refused"


class UnknownEventError(NotifyError):
    code = "unknown-message-event"
    status = 422
    title = "No message template for that event"


class InvalidParametersError(NotifyError):
    code = "invalid-message-parameters"
    status = 422
    title = "The message's parameters do not fit its template"


class InvalidRecipientError(NotifyError):
    code = "invalid-message-recipient"
    status = 422
    title = "A message needs one recipient"


class MessageNotFoundError(NotifyError):
    code = "message-not-found"
    status = 404
    title = "Message not found"


class MessageNotRetryableError(NotifyError):
    code = "message-not-retryable"
    status = 409
    title = "Only dead or failed messages can be retried"


class ProviderNotFoundError(NotifyError):
    code = "messaging-provider-not-found"
    status = 404
    title = "No messaging provider by that name is configured"


class UnverifiedReceiptError(NotifyError):
    code = "receipt-rejected"
    status = 401
    title = "The delivery report's signature does not verify"


class InvalidCursorError(NotifyError):
    """A ``cursor`` that names no page of the list: not one this API gave out. 404, as for any address that names
    nothing (the cursor is part of the page's address); no schema can tell a real cursor from a made-up one."""

    code = "invalid-cursor"
    status = 404
    title = "Invalid cursor"


class TemplateFileError(ValueError):
    """A template file is broken: raised at start-up, naming the file and what is wrong in it."""
