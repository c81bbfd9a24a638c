"""Kafka plumbing shared by every context: topic admin, producer, projection loops, relays."""

# librdkafka opens a connection to a broker it has not used yet at most every reconnect.backoff.ms
# / 2 (at least 11 ms): with the default 100, every new client's group join or first fetch waited
# about 50 ms for it, several times on the way to ready. Reconnects still back off, doubling to 10 s.
RECONNECT_BACKOFF_MS = 10


def client_settings(bootstrap: str) -> dict[str, str | int | float | bool]:
    """What every librdkafka client of the shop is given: where the cluster is, how soon to connect."""
    return {"bootstrap.servers": bootstrap, "reconnect.backoff.ms": RECONNECT_BACKOFF_MS}
