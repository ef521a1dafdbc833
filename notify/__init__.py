"""The shared messaging module: any service enqueues an event, the shopper gets it on the right channel, once.

Start at :meth:`notify.service.Outbox.enqueue` (what a service calls, inside its own transaction), then
:mod:`notify.worker` (what ``shoa worker`` does with the outbox) and docs/decisions/0031 (what "once" means for
each provider). Imports no other domain package.
"""
