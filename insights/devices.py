"""A device's trust grows with its age on the server's clock (decision 0039, point 9).

A device id costs nothing to make, but time does. An anonymous device counts for nothing in what everyone shares
(the segments' feed scores and people counts, the search's popularity, the rankings) until the server first saw it
``TRUSTED_AFTER`` ago, then for ``age / FULL_TRUST_AFTER`` of itself, in full from ``FULL_TRUST_AFTER`` on. The age
is always the server's (Redis's first-seen mark for the feed, ``insights_devices.first_seen`` for the rankings),
never the app's ``occurred_at``. Signed-in shoppers count from their first event: an account costs a sign-up.

The feed applies it in its events script (``personalization.scores``); the rankings in their query
(``insights.rankings``), per event: a device's events recorded before it was old enough never count, even once it
is.
"""

from __future__ import annotations

import datetime

TRUSTED_AFTER = datetime.timedelta(hours=24)
"""Before this age a device counts nothing."""
FULL_TRUST_AFTER = datetime.timedelta(days=7)
"""From this age a device counts in full (still weighed as half a shopper); in between, in proportion to its age:
a seventh at one day, two sevenths at two."""
FIRST_SEEN_KEEP = datetime.timedelta(days=60)
"""The feed's first-seen mark is kept this long after a device's last event: one away longer starts again."""


def age_trust(age: datetime.timedelta) -> float:
    """How much of itself a device of this age counts for: 0 before ``TRUSTED_AFTER``, 1 from ``FULL_TRUST_AFTER``."""
    if age < TRUSTED_AFTER:
        return 0.0
    return min(1.0, age / FULL_TRUST_AFTER)
