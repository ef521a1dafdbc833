"""The feed's first-seen marks of devices, given back from the event store when Redis does not hold them.

The events script marks a device the first time a batch of it arrives (``scores.FIRST_SEEN_PREFIX``) and weighs it
by that age (decision 0039, point 9). The event store notes the same moment in ``insights_devices``. Redis may not
hold the marks: on the day the rule is deployed (no device was marked before), or after Redis lost its data; then
every device would be new to the feed for a day. So the roll-up (under its lock) loads the store's first-seen times
into the marks once, keeping whichever is older where a mark was written since, and records that it did
(``LOADED_KEY``, gone with a flush). Cut short, it is run again whole: taking the older of two times twice changes
nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from insights.devices import FIRST_SEEN_KEEP
from insights.models import Device
from personalization.scores import FIRST_SEEN_PREFIX

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

LOADED_KEY = "shoa:feed:first-seen-loaded"
"""Present once the store's first-seen times are in Redis's marks."""
CHUNK = 1000
"""Devices sent to Redis per script call."""

_OLDER = """
for i = 1, #KEYS do
  local stored = tonumber(ARGV[i + 1])
  local mark = tonumber(redis.call('GET', KEYS[i]))
  if not mark or stored < mark then
    redis.call('SET', KEYS[i], string.format('%.17g', stored), 'EX', ARGV[1])
  end
end
return #KEYS
"""


async def restore_first_seen(session: AsyncSession, redis: Redis) -> int:
    """Load the store's first-seen times into the feed's marks unless ``LOADED_KEY`` says they are there; how many
    devices were sent."""
    if await redis.exists(LOADED_KEY):
        return 0
    sent, after = 0, ""
    while True:
        rows = (
            await session.execute(
                sa.select(Device.device_id, Device.first_seen)
                .where(Device.device_id > after)
                .order_by(Device.device_id)
                .limit(CHUNK)
            )
        ).all()
        if not rows:
            break
        keys = [f"{FIRST_SEEN_PREFIX}device:{device_id}" for device_id, _ in rows]
        times = [repr(first_seen.timestamp()) for _, first_seen in rows]
        await redis.eval(_OLDER, len(keys), *keys, int(FIRST_SEEN_KEEP.total_seconds()), *times)
        sent += len(rows)
        after = rows[-1].device_id
    await redis.set(LOADED_KEY, 1)
    return sent
