"""What the fault tests share: a local LINE Messaging API that the real workers push to."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.notify.fakes.line import FakeLine

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def line() -> Iterator[FakeLine]:
    with FakeLine() as fake:
        yield fake
