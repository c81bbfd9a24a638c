"""checkout: carts, available stock and orders. Commands from HTTP and bridged products and stock
meet in checkout_internal; the Rust projection decides; the publisher announces accepted orders."""

from __future__ import annotations

import secrets
import threading
import time

from shop import _core, tracing
from shop._proto import checkout_pb2
from shop.config import Config
from shop.contexts import fulfilment, pim
from shop.kafka.producer import CommandProducer, Producer
from shop.kafka.projection import ProjectionLoop
from shop.kafka.relay import Relay, bridge, publisher
from shop.shoppers import Vault

INTERNAL = "checkout_internal"
PUBLIC = "checkout_pub"
EVENTS = {INTERNAL: checkout_pb2.InternalMessage, PUBLIC: checkout_pb2.PublicMessage}
TOPICS = tuple(EVENTS)
# Waiting for the projection to apply an order before announcing it: generous, the thread is idle.
PUBLISH_WAIT_S = 60.0


def new_id() -> str:
    """128 random bits: cart and order ids that cannot be guessed."""
    return secrets.token_hex(16)


class CheckoutContext:
    def __init__(
        self,
        config: Config,
        producer: CommandProducer,
        relay_producer: Producer,
        pim_publisher: Relay,
        fulfilment_publisher: Relay,
        catalog_restored: threading.Event | None = None,
    ) -> None:
        """`producer` writes the shoppers' commands; `relay_producer` the relays and dead letters.
        The snapshot loads once `catalog_restored` is set (the catalog's loaded): its products are
        then the catalog's allocations, where a load beside the catalog's met most of them before
        the catalog did and made copies of its own (70-110 MiB at 10^6 products)."""
        self.config = config
        self.producer = producer
        self.model = _core.Checkout()
        # The shoppers' keys: orders carry their details sealed, opened where they are shown.
        self.vault = Vault(config)
        restore_after = () if catalog_restored is None else (catalog_restored,)
        self.projection = ProjectionLoop(config, INTERNAL, self.model, relay_producer, restore_after)
        self.pim_bridge = bridge(
            config,
            "checkout-pim-bridge",
            pim.PUBLIC,
            INTERNAL,
            _core.checkout_pim_bridge,
            lambda: self.model.pim_offset,
            relay_producer,
            self.projection,
            upstream=(pim_publisher,),
        )
        self.stock_bridge = bridge(
            config,
            "checkout-fulfilment-bridge",
            fulfilment.PUBLIC,
            INTERNAL,
            _core.checkout_fulfilment_bridge,
            lambda: self.model.fulfilment_offset,
            relay_producer,
            self.projection,
            upstream=(fulfilment_publisher,),
        )
        self.publisher = publisher(
            config,
            "checkout",
            # Only accepted orders are announced, as the projection decided when it applied them.
            self.model.orders_published(),
            relay_producer,
            # It waits for the projection to apply what it reads: not before that is published.
            after=(self.projection.published,),
            before_batch=self._wait_applied,
            batched_fetch=True,
        )

    @property
    def relays(self) -> dict[str, Relay]:
        return {
            "checkout-pim-bridge": self.pim_bridge,
            "checkout-fulfilment-bridge": self.stock_bridge,
            "checkout-publisher": self.publisher,
        }

    def start(self) -> None:
        self.vault.start()
        self.projection.start()
        for relay in self.relays.values():
            relay.start()

    def stop(self) -> None:
        for relay in self.relays.values():
            relay.stop()
        self.projection.stop()
        self.vault.stop()

    def ready(self) -> bool:
        """Loaded, and what pim and fulfilment had published at start is applied."""
        offset = self.model.offset
        return (
            self.projection.loaded.is_set()
            and self.vault.loaded.is_set()
            and self.pim_bridge.settled(offset)
            and self.stock_bridge.settled(offset)
        )

    def _wait_applied(self, offset: int) -> None:
        """The publisher reads decisions the projection took: it waits for them, once per batch
        (a wait per message would cost a thread switch per cart write)."""
        if not self.projection.watch.wait_blocking(offset, PUBLISH_WAIT_S):
            raise TimeoutError(f"checkout did not apply offset {offset} in {PUBLISH_WAIT_S}s")

    async def set_item(self, cart_id: str, product_id: str, quantity: int) -> int:
        """Produces the command; returns its offset once Kafka acknowledged it and it is applied."""
        command = checkout_pb2.CartItemSet(cart_id=cart_id, product_id=product_id, quantity=quantity)
        message = checkout_pb2.InternalMessage(cart_item_set=command).SerializeToString()
        return await self._write(message)

    async def place_order(self, cart_id: str, cart_version: int, shopper: bytes = b"") -> tuple[str, str]:
        """Produces OrderPlaced with a fresh order id and next cart id (and the `shopper`'s sealed
        details); returns them once it is applied."""
        order_id, next_cart_id = new_id(), new_id()
        command = checkout_pb2.OrderPlaced(
            cart_id=cart_id,
            order_id=order_id,
            cart_version=cart_version,
            next_cart_id=next_cart_id,
            created_at_ms=int(time.time() * 1000),
            shopper=shopper,
        )
        message = checkout_pb2.InternalMessage(order_placed=command).SerializeToString()
        await self._write(message)
        return order_id, next_cart_id

    async def _write(self, message: bytes) -> int:
        """Produces `message`; returns its offset once Kafka acknowledged it and the projection
        applied it (ProduceError, NotApplied otherwise)."""
        topic, watch = self.config.topic(INTERNAL), self.projection.watch
        with tracing.producing(INTERNAL) as headers:
            return await self.producer.produce_applied(
                topic, message, watch, self.config.ready_timeout, headers
            )
