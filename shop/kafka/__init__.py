"""Kafka plumbing shared by every context: topic admin, producer, projection loops, relays."""

# librdkafka opens a connection to a broker it has not used yet at most every reconnect.backoff.ms
# / 2 (at least 11 ms): with the default 100, every new client's group join or first fetch waited
# about 50 ms for it, several times on the way to ready. Reconnects still back off, doubling to 10 s.
RECONNECT_BACKOFF_MS = 10

# How long a background loop's wait for Kafka (a poll for messages, delivery reports) lasts before
# it looks at its stop flag again; anything that arrives ends the wait at once. confluent-kafka
# wakes a blocked poll every 200 ms anyway (to look for signals): a shorter wait only adds
# wakeups, each taking the GIL from the event loop. At 0.1 s for the consumers and 0.05 s for the
# delivery reports an idle shop woke 450 times a second (bench/results/idle-wakeups-2026-12-06.md).
POLL_S = 0.2


def client_settings(bootstrap: str) -> dict[str, str | int | float | bool]:
    """What every librdkafka client of the shop is given: where the cluster is, how soon to connect."""
    return {"bootstrap.servers": bootstrap, "reconnect.backoff.ms": RECONNECT_BACKOFF_MS}
