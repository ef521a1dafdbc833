"""Order refusals, each a problem-details answer with a stable code."""

from __future__ import annotations

from typing import Any

from shoa_kernel.errors import DomainError


class OrderError(DomainError):
    code = "order-error"
    status = 400
    title = "Order request refused"


class InvalidTrackingNumberError(OrderError):
    """A carrier Shoa does not know, or a tracking number that is not one of that carrier's (its digit count
    depends on the carrier: a rule of two fields together, which the request's schema cannot state)."""

    code = "invalid-tracking-number"
    status = 422
    title = "Not a tracking number of that carrier"


class CartLineError(OrderError):
    """The option exists but cannot go in the cart as things are (not for sale now, the cart is full)."""

    code = "invalid-cart-line"
    status = 409
    title = "That cart line cannot be kept"


class ProductOptionNotFoundError(OrderError):
    code = "product-option-not-found"
    status = 404
    title = "No such product option"


class OrderStateError(OrderError):
    """A well-formed request the order, as it stands now, does not allow (nothing delivered yet to confirm, the
    return window closed, fewer left than asked): 409, like an illegal transition."""

    code = "order-state-conflict"
    status = 409
    title = "The order, as it stands, does not allow this"


class InvalidCursorError(OrderError):
    """A ``cursor`` that names no page of the list: not one this API gave out. 404, as for any address that names
    nothing (the cursor is part of the page's address); no schema can tell a real cursor from a made-up one."""

    code = "invalid-cursor"
    status = 404
    title = "Invalid cursor"


class EmptyCartError(OrderError):
    code = "empty-cart"
    status = 409
    title = "The cart is empty"


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


class UnpaidLimitError(OrderError):
    """The checkout would leave the shopper holding more of one product in orders not paid yet than one shopper
    may: stock taken by an unpaid order is out of everyone else's reach until its deadline."""

    code = "unpaid-limit"
    status = 409
    title = "Too many of this product wait for your payment"


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


class WrongPaymentMethodError(OrderError):
    code = "wrong-payment-method"
    status = 409
    title = "The order is paid another way"


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


class MalformedWebhookError(OrderError):
    code = "malformed-payment-webhook"
    status = 400
    title = "Not a webhook the payment gateway sends"


class WebhookNotTrustedError(OrderError):
    """Not believed: it names no order of ours, a secret not its payment's, or a payment the gateway does not know.
    403: the webhook's own proof (the payment's secret, the gateway's read-back) failed."""

    code = "payment-webhook-not-trusted"
    status = 403
    title = "The payment webhook does not match a payment we know"
