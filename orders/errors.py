"""Order refusals, each a problem-details answer with a stable code."""

from __future__ import annotations

from typing import Any

from shoa_kernel.errors import DomainError


class OrderError(DomainError):
    code = "order-error"
    status = 400
    title = "Order request refused"


class CartLineError(OrderError):
    code = "invalid-cart-line"
    status = 422
    title = "That cart line cannot be kept"


class OrderNotFoundError(OrderError):
    code = "order-not-found"
    status = 404
    title = "Order not found"


class CheckoutConflictError(OrderError):
    """A line's price changed since the shopper saw it, or its stock ran out: ``lines`` names each one."""

    code = "checkout-conflict"
    status = 409
    title = "Some lines cannot be ordered as they are"

    def __init__(self, detail: str, *, lines: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.extra = {"lines": lines}


class IdempotencyKeyReusedError(OrderError):
    code = "idempotency-key-reused"
    status = 409
    title = "That Idempotency-Key was used for another request"


class IllegalTransitionError(OrderError):
    code = "illegal-order-transition"
    status = 409
    title = "The order is not in a state that allows this"

    def __init__(self, detail: str, *, current: str, requested: str) -> None:
        super().__init__(detail)
        self.extra = {"current_status": current, "requested_status": requested}


class PaymentMismatchError(OrderError):
    code = "payment-amount-mismatch"
    status = 409
    title = "The amount is not the order's"


class PaymentDeclinedError(OrderError):
    """The gateway refused (a declined card, an unknown payment key): its own code and message are kept."""

    code = "payment-declined"
    status = 402
    title = "The payment gateway refused the payment"

    def __init__(self, detail: str, *, gateway_code: str) -> None:
        super().__init__(detail)
        self.extra = {"gateway_code": gateway_code}


class PaymentGatewayDownError(OrderError):
    code = "payment-gateway-unavailable"
    status = 503
    title = "The payment gateway did not answer"
    retry_after = 5


class WebhookNotTrustedError(OrderError):
    code = "payment-webhook-not-trusted"
    status = 400
    title = "The payment webhook does not match a payment we know"
