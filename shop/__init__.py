"""Event Thingy Store: an event-sourced web shop.

Kafka is the source of truth; the Rust extension `shop._core` serves the reads.
"""

from shop._core import __version__

__all__ = ["__version__"]
