"""Payment gateways: one interface (:mod:`orders.payments.base`), Toss Payments and the sandbox."""
