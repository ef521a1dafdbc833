"""Behaviour data as a product: the event store, its hourly aggregates, and (later) the malls' insights."""
