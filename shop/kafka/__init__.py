"""Kafka plumbing shared by every context: topic admin, producer, projection loops, relays."""
