"""What an unanswered request means for a retry, and Retry-After in both of its forms."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from notify.providers.base import OutcomeKind
from notify.providers.transport import exchange_failed, retry_after_seconds

NOW = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("Fri, 20 Nov 2026 09:00:30 GMT", 30.0),
        ("Fri, 20 Nov 2026 08:59:00 GMT", 0.0),
        ("-5", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == seconds


def test_a_request_that_never_left_is_not_ambiguous_but_a_lost_answer_is() -> None:
    refused = exchange_failed("talktalk", httpx.ConnectError("refused"), deduplicated=False)
    timed_out = exchange_failed("talktalk", httpx.ReadTimeout("slow"), deduplicated=False)
    deduplicated = exchange_failed("line", httpx.RemoteProtocolError("closed"), deduplicated=True)

    assert {refused.kind, timed_out.kind, deduplicated.kind} == {OutcomeKind.TRANSIENT}
    assert "nothing was sent" in refused.detail
    assert "cannot deduplicate" in timed_out.detail
    assert "deduplicates" in deduplicated.detail
    # What the worker reads: only a lost answer may have reached the shopper, so only it puts the message in doubt.
    assert (refused.delivery_unknown, timed_out.delivery_unknown, deduplicated.delivery_unknown) == (False, True, True)
