"""The turns in which projections load their snapshots at start (shop/kafka/load_slots.py)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from shop.kafka.load_slots import SNAPSHOT_LOADS, LoadSlots, usable_cores
from tests.support.polling import eventually


class Loads:
    """Loads on threads of their own, each holding its turn until the test lets it end; `order`
    is the order in which they got their turns."""

    def __init__(self, slots: LoadSlots) -> None:
        self.slots = slots
        self.order: list[str] = []
        self.running: set[str] = set()
        self.most_at_once = 0
        self.turns: dict[str, bool] = {}
        self.done: dict[str, threading.Event] = defaultdict(threading.Event)
        self.stopping: dict[str, threading.Event] = {}
        self._end: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def queue(self, name: str, after: Sequence[str] = ()) -> None:
        """Starts load `name`, following the loads `after`, and returns once it is in line or has
        its turn."""
        in_line = self.slots.waiting + len(self.running)
        self.stopping[name] = threading.Event()
        self._end[name] = threading.Event()
        events = [self.done[other] for other in after]
        thread = threading.Thread(target=self._load, args=(name, events), daemon=True)
        thread.start()
        self._threads.append(thread)
        eventually(lambda: self.slots.waiting + len(self.running) > in_line, 5, f"{name} in line")

    def shows(self, *running: str) -> None:
        """Waits until exactly the loads `running` hold their turns (a load let in is on its way)."""
        eventually(lambda: self.running == set(running), 5, f"{', '.join(running) or 'none'} running")

    def end(self, name: str) -> None:
        """Lets load `name` end (it says it is done inside its turn, as a projection does)."""
        self._end[name].set()
        eventually(lambda: name not in self.running, 5, f"{name} ended")

    def _load(self, name: str, after: list[threading.Event]) -> None:
        with self.slots.turn(after, self.stopping[name]) as turn:
            self.turns[name] = turn
            if not turn:
                return
            with self._lock:
                self.order.append(name)
                self.running.add(name)
                self.most_at_once = max(self.most_at_once, len(self.running))
            assert self._end[name].wait(10)
            self.done[name].set()
            with self._lock:
                self.running.discard(name)

    @contextmanager
    def joined(self) -> Iterator[Loads]:
        try:
            yield self
        finally:
            for event in self._end.values():
                event.set()
            for thread in self._threads:
                thread.join(10)


def test_no_more_loads_run_at_once_than_there_are_slots() -> None:
    with Loads(LoadSlots(2)).joined() as loads:
        for name in "abcde":
            loads.queue(name)
        loads.shows("a", "b")
        assert loads.slots.waiting == 3
        for ended, now in (("a", "bc"), ("b", "cd"), ("c", "de"), ("d", "e"), ("e", "")):
            loads.end(ended)
            loads.shows(*now)
    assert loads.order == list("abcde") and loads.most_at_once == 2


def test_a_load_waits_for_the_loads_it_follows_then_goes_before_those_that_follow_none() -> None:
    """Checkout follows the catalog: the catalog's slot goes to checkout, though fulfilment waited
    longer; a start waits for the catalog and then checkout."""
    with Loads(LoadSlots(1)).joined() as loads:
        loads.queue("catalog")
        loads.queue("fulfilment")
        loads.queue("checkout", after=["catalog"])
        loads.shows("catalog")
        loads.end("catalog")
        loads.shows("checkout")
        loads.end("checkout")
        loads.shows("fulfilment")
        loads.end("fulfilment")
    assert loads.order == ["catalog", "checkout", "fulfilment"]


def test_a_load_goes_on_once_the_loads_it_follows_are_done_without_a_turn() -> None:
    """A loop that fails or stops before its turn still says it is done: the loads after it go
    on (their wait looks again every WAIT_S, no slot being given back)."""
    with Loads(LoadSlots(1)).joined() as loads:
        loads.queue("checkout", after=["catalog"])
        assert loads.running == set()
        loads.done["catalog"].set()
        loads.shows("checkout")
        loads.end("checkout")
    assert loads.order == ["checkout"]


def test_a_load_stopped_while_in_line_gets_no_turn_and_holds_no_slot() -> None:
    with Loads(LoadSlots(1)).joined() as loads:
        loads.queue("catalog")
        loads.queue("search")
        loads.stopping["search"].set()
        eventually(lambda: loads.turns.get("search") is False, 5, "search out of line")
        loads.end("catalog")
        loads.queue("fulfilment")
        loads.shows("fulfilment")
        loads.end("fulfilment")
    assert loads.order == ["catalog", "fulfilment"]


def test_the_process_loads_one_snapshot_a_core_at_once() -> None:
    with Loads(SNAPSHOT_LOADS).joined() as loads:
        for number in range(usable_cores() + 1):
            loads.queue(str(number))
        loads.shows(*map(str, range(usable_cores())))
        assert loads.slots.waiting == 1
        for number in range(usable_cores() + 1):
            loads.end(str(number))
    assert loads.most_at_once == usable_cores()
