"""schemathesis against the spec a running shop serves at /openapi.json: every generated request,
valid or not, gets an answer that is not a 5xx and that the spec describes (status code, content
type, body schema, headers). Then requests the spec forbids (schemathesis's negative mode: wrong
types, out-of-range numbers, missing or extra parameters and fields) each get a 4xx, never a 5xx,
within their documented bound. A bounded number of examples per operation keeps it short."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fixtures.kafka_broker import Broker
from fixtures.server import ShopProcess
from shop.kafka.producer import ACK_MARGIN_S
from tests.support.catalog import import_catalog
from tests.support.config import fresh_config

pytestmark = pytest.mark.timeout(300)

EXAMPLES = 40
READ_BOUND_S = 1.0  # as in tests/test_hostile_inputs.py
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def running_shop(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopProcess]:
    # A short read-your-writes wait: a generated Shop-Min-Offset past the end (most are, on the
    # carts' and content's short topics) waits this long before its 400, not the 1 s a shop waits.
    config = dataclasses.replace(fresh_config(broker), ready_timeout=0.5)
    import_catalog(config, 5, {0: 3, 1: 10})
    shop = ShopProcess(config, Path(tmp_path_factory.mktemp("shop")) / "shop.log").start()
    yield shop
    shop.stop()


def operations(shop: ShopProcess) -> list[Any]:
    api = schemathesis.openapi.from_url(shop.url + "/openapi.json")
    found = []
    for result in api.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the spec the shop serves is not valid
        found.append(result.ok())
    assert len(found) >= 8
    return found


def test_every_answer_is_described_by_the_spec_and_none_is_a_5xx(running_shop: ShopProcess) -> None:
    for operation in operations(running_shop):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def answer_conforms(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(checks=CHECKS, timeout=30)

        answer_conforms()


def test_requests_the_spec_forbids_get_a_4xx_within_their_bound(running_shop: ShopProcess) -> None:
    """Operations whose spec forbids nothing (no parameter, or a string of any kind) have no
    negative cases: hypothesis finds none to generate, and the others must remain."""
    config = running_shop.config
    negated = []
    for operation in operations(running_shop):

        @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def refused_in_time(case: schemathesis.Case[Any]) -> None:
            response = case.call(timeout=30)
            assert response.status_code < 500, (case.as_curl_command(), response.status_code, response.text)
            bound = READ_BOUND_S
            if any(name.lower() == "shop-min-offset" for name in case.headers or {}):
                bound += config.ready_timeout
            if case.method.upper() != "GET":
                bound += config.produce_timeout + ACK_MARGIN_S + config.ready_timeout
            assert response.elapsed <= bound, (case.as_curl_command(), response.elapsed)

        try:
            refused_in_time()
        except Unsatisfiable:
            continue
        negated.append(f"{operation.method.upper()} {operation.path}")
    assert len(negated) >= 5, negated
