"""notification: order emails to shoppers, exactly once in effect.

Two relays read the public topics (`checkout_pub`: confirmed; `fulfilment_pub`: shipped or
backordered), write each email over SMTP, and record each answer of the server in
`notification_internal` before the next email: each resumes after the last source offset recorded.
Every email has a deterministic Message-ID (order id + kind), so the one duplicate a crash can
cause (accepted by the server, not yet recorded) is recognisable. SMTP down or busy: retried with
backoff and jitter, nothing dropped; a permanent refusal: recorded, copied to the dead letters,
counted, and the next email goes out (docs/notification.md)."""

from __future__ import annotations

import html
import json
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from typing import Any, TypeVar

from google.protobuf.message import DecodeError, Message

from shop import _core, metrics
from shop._proto import checkout_pb2, fulfilment_pb2, notification_pb2, shoppers_pb2
from shop.config import Config
from shop.contexts import checkout, fulfilment
from shop.kafka.offsets import OffsetWatch
from shop.kafka.producer import Producer
from shop.kafka.relay import Relay, last_carried
from shop.retry import backoff
from shop.shoppers import Vault

M = TypeVar("M", bound=Message)
# The events of each source that may ask for an email: the public message and its oneof's event.
CONFIRMED = (checkout_pb2.PublicMessage, "order_created")
SHIPPED = (fulfilment_pb2.PublicMessage, "order_shipped")

log = logging.getLogger(__name__)

INTERNAL = "notification_internal"
EVENTS = {INTERNAL: notification_pb2.InternalMessage}
MESSAGE_ID_DOMAIN = "event-thingy-store"
# SMTP down or answering 4xx: retried after growing, jittered delays up to this.
MAX_RETRY_DELAY_S = 30.0
SMTP_TIMEOUT_S = 10.0
# Emails accepted by the server whose records may be unacknowledged at once: the most one crash
# can send twice, per relay. 1 would wait for Kafka after each email (about 55 emails/s here);
# 8 overlaps those waits with the next emails (docs/notification.md: the duplicate bound).
RECORD_WINDOW = 8
# A shipment's email waits for checkout to apply it (the order's status): at most this long, then
# the relay starts again from its last record.
STATUS_WAIT_S = 30.0
# Meanwhile it wakes at each batch checkout applies, and at least this often to see a stop.
STOP_CHECK_S = 0.1
SUBJECTS = {
    "confirmed": "Your order {short} is confirmed",
    "shipped": "Your order {short} has shipped",
    "backordered": "Part of your order {short} is backordered",
}
INTROS = {
    "confirmed": "Thank you for your order. We will let you know when it ships.",
    "shipped": "Your order has shipped in full.",
    "backordered": "Your order has shipped, but some units were not on hand: they follow when they are.",
}


def message_id(order_id: str, kind: str) -> str:
    """The same for every attempt at the same email: duplicates are recognisable by it."""
    return f"<{order_id}.{kind}@{MESSAGE_ID_DOMAIN}>"


@dataclass
class Notice:
    """An email to write: its kind, the order as its shopper sees it, and to whom."""

    kind: str
    order: dict[str, Any]
    shopper: shoppers_pb2.ShopperDetails


def euros(cents: int) -> str:
    return f"€{cents / 100:,.2f}"


def render(notice: Notice, config: Config) -> MIMEMultipart:
    """The email of `notice`: text and HTML bodies with the lines, the total, the address and a
    link to the order's page."""
    order, shopper = notice.order, notice.shopper
    order_id = order["id"]
    link = f"{config.public_url.rstrip('/')}/orders/{order_id}"
    lines = [(i["name"], i["quantity"], i["price"] * i["quantity"]) for i in order["items"]]
    address = [shopper.name, shopper.street, f"{shopper.postcode} {shopper.city}", shopper.country]
    intro = INTROS[notice.kind]
    text = "\n".join(
        [
            f"Hello {shopper.name},",
            "",
            intro,
            "",
            *(f"{quantity} x {name}: {euros(amount)}" for name, quantity, amount in lines),
            f"Total: {euros(order['total_price'])}",
            "",
            "Shipping to:",
            *address,
            "",
            f"Your order: {link}",
        ]
    )
    rows = "".join(
        f"<tr><td>{quantity} x</td><td>{html.escape(name)}</td><td>{euros(amount)}</td></tr>"
        for name, quantity, amount in lines
    )
    body = (
        f"<p>Hello {html.escape(shopper.name)},</p><p>{intro}</p><table>{rows}"
        f"<tr><th colspan='2'>Total</th><td>{euros(order['total_price'])}</td></tr></table>"
        f"<p>Shipping to:<br>{'<br>'.join(html.escape(part) for part in address)}</p>"
        f"<p><a href='{html.escape(link)}'>Your order</a></p>"
    )
    # The compat32 MIME classes: a tenth of EmailMessage's cost (0.5 ms against 7 ms an email
    # here), which decided whether the notifier kept up with 100 orders/s.
    message = MIMEMultipart("alternative")
    message["From"] = config.mail_from
    message["To"] = shopper.email
    message["Subject"] = SUBJECTS[notice.kind].format(short=order_id[:8])
    message["Message-ID"] = message_id(order_id, notice.kind)
    message["Date"] = formatdate(localtime=False)
    message.attach(MIMEText(text, "plain", "utf-8"))
    message.attach(MIMEText(f"<!doctype html><html><body>{body}</body></html>", "html", "utf-8"))
    return message


class Refused(Exception):
    """The SMTP server refused the email for good (a 5xx to its recipient or its data): retrying
    cannot help."""


class Mailer:
    """One SMTP connection, opened when needed and kept; `send` retries until the server accepts
    (or refuses for good), with backoff and jitter, while `stopping` is not set."""

    def __init__(self, config: Config, stopping: threading.Event) -> None:
        self.config = config
        self.stopping = stopping
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: MIMEMultipart) -> None:
        delays = backoff(cap=MAX_RETRY_DELAY_S)
        while True:
            try:
                self._connection().send_message(message)
                return
            except (smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused) as exc:
                # The shop's own login or sender, not this email: every email would be refused
                # alike, so none is dead-lettered; they wait until an operator fixes the settings.
                log.error("SMTP refused the shop's login or sender (%s); retrying", exc)
            except smtplib.SMTPRecipientsRefused as exc:
                self._refused_or_retry(min(code for code, _ in exc.recipients.values()), str(exc))
            except smtplib.SMTPResponseException as exc:
                self._refused_or_retry(exc.smtp_code, str(exc))
            except (OSError, smtplib.SMTPException) as exc:  # down, unreachable, disconnected
                log.warning("SMTP %s:%d: %s; retrying", self.config.smtp_host, self.config.smtp_port, exc)
            self.close()
            metrics.EMAILS.labels("retried").inc()
            if self.stopping.wait(next(delays)):
                raise TimeoutError("stopped while the SMTP server was unavailable")

    def _refused_or_retry(self, code: int, reason: str) -> None:
        if 500 <= code < 600:
            raise Refused(reason)
        log.warning("SMTP answered %d (%s); retrying", code, reason)

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            config, context = self.config, ssl.create_default_context()
            if config.smtp_tls == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    config.smtp_host, config.smtp_port, timeout=SMTP_TIMEOUT_S, context=context
                )
            else:
                smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=SMTP_TIMEOUT_S)
                if config.smtp_tls == "starttls":
                    smtp.starttls(context=context)
            if config.smtp_user:
                smtp.login(config.smtp_user, config.smtp_password)
            self._smtp = smtp
        return self._smtp

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None


class Notifier:
    """The emails of one public topic: `notices(value, offset)` says which email (if any) an event
    asks for; each is sent, then recorded, before the next. Only the events `mailed` (the source's
    `PublicMessage` and its oneof events that may ask for one) reach `notices`: the others are
    stepped over in the extension, a million stock changes in a first start among them."""

    def __init__(
        self,
        config: Config,
        source: str,
        mailed: tuple[type[Message], str],
        notices: Callable[[bytes, int], Iterator[Notice]],
        producer: Producer,
        records: Producer,
        after: tuple[threading.Event, ...],
    ) -> None:
        """`producer` writes the dead letters (as every relay's); `records` the emails' records."""
        self.config = config
        self.source = source
        self.notices = notices
        self.records = records
        self.unacknowledged: list[Future[int]] = []
        self.relay = Relay(
            config,
            f"notification-{source.removesuffix('_pub')}",
            source,
            INTERNAL,
            _core.OnlyEvents([event_number(*mailed)], self._notify),
            self._resume_from,
            producer,
            after=after,
            before_commit=self._await_records,  # a committed position's emails are recorded
        )
        self.mailer = Mailer(config, self.relay.stopping)

    def _notify(self, value: bytes, offset: int) -> None:
        """Sends the email `value` asks for and records it; the relay itself produces nothing."""
        for notice in self.notices(value, offset):
            email = render(notice, self.config)
            sent = notification_pb2.EmailSent(
                message_id=email["Message-ID"],
                order_id=notice.order["id"],
                kind=notice.kind,
                source=self.source,
                source_offset=offset,
            )
            try:
                self.mailer.send(email)
            except Refused as exc:
                sent.refusal = str(exc)[:1000]
                self._record(sent)
                metrics.EMAILS.labels("refused").inc()
                raise ValueError(f"the SMTP server refused {sent.message_id}: {exc}") from None
            self._record(sent)
            metrics.EMAILS.labels(notice.kind).inc()

    def _record(self, sent: notification_pb2.EmailSent) -> None:
        """Writes the record; once RECORD_WINDOW records are unacknowledged, waits for them all
        before the next email: at most that many emails are accepted but not yet recorded."""
        message = notification_pb2.InternalMessage(email_sent=sent).SerializeToString()
        self.unacknowledged.append(self.records.produce(self.config.topic(INTERNAL), message))
        if len(self.unacknowledged) >= RECORD_WINDOW:
            self._await_records()

    def _await_records(self) -> None:
        for future in self.unacknowledged:
            if self.relay.acknowledged(future) is None:
                raise TimeoutError("stopped before the emails' records were acknowledged")
        self.unacknowledged.clear()

    def _resume_from(self) -> int:
        """After the last source offset recorded, once the records written are acknowledged (a
        restart of the relay must not send again what it recorded)."""
        self._await_records()
        return last_recorded(self.config, self.source) + 1


def event_number(kind: type[Message], event: str) -> int:
    """The field number of `kind`'s field `event` (one of its oneof's events)."""
    return int(kind.DESCRIPTOR.fields_by_name[event].number)


def _decoded(kind: type[M], value: bytes) -> M:
    """`value` as a `kind`; garbage is a ValueError, which the relay dead-letters and steps over."""
    try:
        return kind.FromString(value)
    except DecodeError as exc:
        raise ValueError(str(exc)) from None


def last_recorded(config: Config, source: str) -> int:
    """The last `source` offset recorded in notification_internal (-1 for none)."""

    def recorded(value: bytes) -> int | None:
        try:
            sent = notification_pb2.InternalMessage.FromString(value).email_sent
        except DecodeError as exc:
            raise ValueError(str(exc)) from None
        return sent.source_offset if sent.source == source else None

    return last_carried(config, config.topic(INTERNAL), recorded)


class NotificationContext:
    def __init__(
        self,
        config: Config,
        producer: Producer,
        model: _core.Checkout,
        watch: OffsetWatch,
        vault: Vault,
        loaded: tuple[threading.Event, ...],
    ) -> None:
        """`model`, `watch` and `vault` are checkout's: the orders as their shoppers see them, the
        offset its projection applied, and the keys that open their details. The relays start once
        `loaded` are set."""
        self.config = config
        self.model = model
        self.watch = watch
        self.vault = vault
        # Each email waits for its record's acknowledgement: written at once (no linger, unlike the
        # relays' producer), and never given up on (the record is what prevents a second email).
        self.records = Producer(config, extra={"message.timeout.ms": 0, "linger.ms": 0})
        self.confirmations = Notifier(
            config, checkout.PUBLIC, CONFIRMED, self._confirmed, producer, self.records, loaded
        )
        self.shipments = Notifier(
            config, fulfilment.PUBLIC, SHIPPED, self._shipped, producer, self.records, loaded
        )

    @property
    def relays(self) -> dict[str, Relay]:
        return {n.relay.name: n.relay for n in (self.confirmations, self.shipments)}

    def stop(self) -> None:
        """After the relays stopped: every record acknowledged, the SMTP connections closed."""
        for notifier in (self.confirmations, self.shipments):
            notifier.mailer.close()
        self.records.close(self.config.shutdown_timeout)

    def _confirmed(self, value: bytes, offset: int) -> Iterator[Notice]:
        message = _decoded(checkout_pb2.PublicMessage, value)
        if message.WhichOneof("event") == CONFIRMED[1]:
            yield from self._notice("confirmed", message.order_created.order_id)

    def _shipped(self, value: bytes, offset: int) -> Iterator[Notice]:
        message = _decoded(fulfilment_pb2.PublicMessage, value)
        if message.WhichOneof("event") != SHIPPED[1]:
            return
        # Checkout learns of the shipment through its bridge: its status tells shipped from backordered.
        self._await_checkout(offset)
        order_id = message.order_shipped.order_id
        # A shipment delivered again (fulfilment's bridge relays an order twice after a restart)
        # changed nothing in checkout: only the one that decided the status is mailed.
        if self.model.shipped_at(order_id) == offset:
            yield from self._notice(None, order_id)

    def _await_checkout(self, fulfilment_offset: int) -> None:
        """Until checkout applied `fulfilment_offset`, woken by each batch it applies (its offset
        signal); a TimeoutError after STATUS_WAIT_S, or once the relay is stopping."""
        stopping = self.shipments.relay.stopping
        deadline = time.monotonic() + STATUS_WAIT_S
        while True:
            # Read before the model: a batch is published to the model first, then to the signal.
            applied = self.watch.applied
            if self.model.fulfilment_offset >= fulfilment_offset:
                return
            left = deadline - time.monotonic()
            if left <= 0 or stopping.is_set():
                why = "stopped" if stopping.is_set() else f"not in {STATUS_WAIT_S}s"
                raise TimeoutError(f"checkout did not apply fulfilment offset {fulfilment_offset}: {why}")
            self.watch.wait_blocking(applied + 1, min(left, STOP_CHECK_S))

    def _notice(self, kind: str | None, order_id: str) -> Iterator[Notice]:
        """The email about `order_id` (of its current status unless `kind`), if it has a shopper
        whose details can still be opened (none were given, or they were forgotten: no email)."""
        found = self.model.order_notice(order_id)
        if found is None:
            return
        status, body, sealed = found
        shopper = self.vault.open(sealed)
        kind = kind or status
        if shopper is not None and kind in SUBJECTS:
            yield Notice(kind, json.loads(body), shopper)
