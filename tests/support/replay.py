"""A context's state read back from Kafka by a fresh replay, independently of any running shop."""

from __future__ import annotations

from shop import _core
from shop.config import Config
from shop.contexts import checkout
from shop.kafka.consumer import replay


def checkout_state(config: Config) -> _core.Checkout:
    """A fresh replay of checkout_internal: what any instance reaches after a restart."""
    model = _core.Checkout()
    replay(config, checkout.INTERNAL, model.apply)
    return model
