"""schemathesis against the spec a running shop serves at /openapi.json: every generated request,
valid or not, gets an answer that is not a 5xx and that the spec describes (status code, content
type, body schema, headers). A bounded number of examples per operation keeps it short."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
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
from tests.support.catalog import import_catalog
from tests.support.config import fresh_config

pytestmark = pytest.mark.timeout(300)

EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def running_shop(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopProcess]:
    # A short read-your-writes wait: a generated Shop-Min-Offset far ahead must not hold a test.
    config = dataclasses.replace(fresh_config(broker), ready_timeout=1)
    import_catalog(config, 5, {0: 3, 1: 10})
    shop = ShopProcess(config, Path(tmp_path_factory.mktemp("shop")) / "shop.log").start()
    yield shop
    shop.stop()


def test_every_answer_is_described_by_the_spec_and_none_is_a_5xx(running_shop: ShopProcess) -> None:
    api = schemathesis.openapi.from_url(running_shop.url + "/openapi.json")
    operations = []
    for result in api.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the spec the shop serves is not valid
        operations.append(result.ok())
    assert len(operations) >= 8
    for operation in operations:

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
