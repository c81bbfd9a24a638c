"""How the shop sees the broker: librdkafka's statistics, read every second, say which brokers
are connected; readiness fails once none has been for longer than the configured time."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

STATS_INTERVAL_MS = 1000


class BrokerWatch:
    def __init__(self) -> None:
        self.down_since: float | None = None
        self.stats: dict[str, Any] = {}

    def on_stats(self, raw: str) -> None:
        """librdkafka's `stats_cb`: the client's statistics as JSON."""
        self.stats = json.loads(raw)
        brokers = self.stats.get("brokers", {}).values()
        up = any(b.get("nodeid", -1) >= 0 and b.get("state") == "UP" for b in brokers)
        if up and self.down_since is not None:
            log.info("broker reachable again after %.1fs", time.monotonic() - self.down_since)
            self.down_since = None
        elif not up and self.down_since is None:
            log.warning("no broker reachable")
            self.down_since = time.monotonic()

    def unreachable(self) -> bool:
        """True while the last statistics showed no broker connected."""
        return self.down_since is not None

    def unreachable_for(self) -> float:
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since
