"""A context's state read back from Kafka by a fresh replay, independently of any running shop."""

from __future__ import annotations

from shop import _core
from shop.config import Config
from shop.contexts import checkout, pim
from shop.kafka.consumer import replay
from shop.kafka.producer import Producer
from shop.kafka.relay import Relay


def checkout_state(config: Config) -> _core.Checkout:
    """A fresh replay of checkout_internal: what any instance reaches after a restart."""
    model = _core.Checkout()
    replay(config, checkout.INTERNAL, model.apply)
    return model


def rerun_pim_bridge(config: Config, target: str) -> None:
    """Runs the bridge from pim_pub into `target` again from the very start of pim_pub, as a confused
    operator might: every product event is bridged a second time."""
    producer = Producer(config)
    rerun = Relay(config, "rerun", pim.PUBLIC, target, _core.catalog_bridge, lambda: 0, producer)
    rerun.start()
    assert rerun.caught_up.wait(30)
    rerun.stop()
    producer.close()
