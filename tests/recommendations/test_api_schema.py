"""The API answers exactly as its OpenAPI schema says: schemathesis, every check, in-process.

Requests go to the WSGI application in this process, against a trained store, so the
lists are not empty. Staff routes are called as staff, the shopper's own list as a
customer, the rest anonymously. Examples are bounded so the run stays under a minute.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS
from schemathesis.generation import GenerationMode

from recommendations.models import Impression
from tests.factories import OrderFactory, OrderLineFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.usefixtures("isolated_serving")

STAFF_ROUTES = ("/users/", "/training-runs/")
# One impression showing 1001 items, so any position the schema allows names an item.
IMPRESSION_LENGTH = 1001


def _session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def api(store, settings):
    """The trained store, its keys, and a session cookie for each role."""
    # Thousands of requests: the rate limits are not what is tested here.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "1000000/min", "user": "1000000/min"},
    }
    customer = UserFactory(username="alice")
    OrderLineFactory(order=OrderFactory(user=customer), product=store.product(0, 0))
    products = [str(product.pk) for product in store.all_products()]
    impression = Impression.objects.create(
        block="for_you",
        item_pks=[products[i % len(products)] for i in range(IMPRESSION_LENGTH)],
        run=store.run,
    )
    # As Django's test client does: a request must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {
        "products": products,
        "impression": impression,
        "cookies": {
            "staff": _session_cookie(StaffFactory(username="boss")),
            "customer": _session_cookie(customer),
        },
    }
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Loaded once at collection from the application itself (no database needed).
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


def _with_real_keys(case: schemathesis.Case, api: dict[str, Any]) -> None:
    """Make a valid request name rows that exist: a seeded product, the seeded impression
    (and its block).

    Only data the schema calls valid is changed, and only into other valid data, so
    the negative cases (which must be refused) stay as generated.
    """
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return
    products = api["products"]
    if "/products/" in case.path and case.path_parameters:
        # About half the generated keys are made real, so both 200 and 404 are checked.
        key = str(case.path_parameters.get("id", ""))
        if sum(map(ord, key)) % 2:
            case.path_parameters["id"] = products[sum(map(ord, key)) % len(products)]
    if isinstance(case.body, dict) and isinstance(case.body.get("product"), str):
        case.body["product"] = products[len(case.body["product"]) % len(products)]
        position = case.body.get("position")
        if isinstance(case.body.get("impression"), str) and isinstance(position, int):
            impression = api["impression"]
            case.body["impression"] = impression.token
            case.body["product"] = impression.item_pks[position]
            if case.body.get("block"):  # a click names its impression's block, if any
                case.body["block"] = impression.block


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_its_schema_says(case, api):
    _with_real_keys(case, api)
    if any(route in case.path for route in STAFF_ROUTES):
        role = "staff"
    elif case.path.endswith("/me/"):
        role = "customer"
    else:
        role = None
    headers = {"Cookie": api["cookies"][role]} if role else {}

    case.call_and_validate(headers=headers, checks=CHECKS.get_all())
