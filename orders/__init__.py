"""Carts, checkout with stock reserved atomically, payments through a gateway, the order lifecycle per mall, and
partner fulfilment; every step is messaged through ``notify``."""
