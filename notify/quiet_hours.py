"""The Korean night, when advertising waits: 정보통신망법 제50조 제3항 forbids advertising between 21:00 and 08:00
Korea time to a recipient who did not separately agree to it.

One rule, read in two places: :meth:`notify.service.Outbox.enqueue` holds such a message until the morning when it
is enqueued at night, and :class:`notify.worker.Dispatcher` puts one back when it comes due at night all the same
(a retry, a fallback, an operator's retry or a backlog reaching past 21:00). Held, never dropped: the shopper
asked for it, only later.
"""

from __future__ import annotations

import datetime

from notify.rendering import KOREA

NIGHT_STARTS = datetime.time(21, 0)
MORNING = datetime.time(8, 0)
"""The night is [21:00, 08:00) Korea time: a message at 08:00 sharp goes at once."""


def held_until(now: datetime.datetime) -> datetime.datetime | None:
    """When an advertising message without night consent may go, if not ``now``: the next 08:00 Korea time
    while it is night in Korea; None by day. In UTC, as every moment the outbox stores."""
    local = now.astimezone(KOREA)
    if MORNING <= local.time() < NIGHT_STARTS:
        return None
    day = local.date() if local.time() < MORNING else local.date() + datetime.timedelta(days=1)
    return datetime.datetime.combine(day, MORNING, tzinfo=KOREA).astimezone(datetime.UTC)
