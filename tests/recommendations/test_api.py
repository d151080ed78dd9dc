"""The recommendations API: validation, permissions on every route, throttling, schema."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.parsers import FormParser, MultiPartParser

from recommendations.api.parsers import JSONParser
from recommendations.api.serializers import ListQuerySerializer
from recommendations.api.views import EventView
from recommendations.conf import app_settings
from recommendations.models import TrainingRun
from recommendations.selectors import DEFAULT_N
from recommendations.session import SESSION_KEY
from recommendations.urls import urlpatterns
from tests.factories import (
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StaffFactory,
    UserFactory,
)

# The throttle counters live in the cache too: isolated_serving clears it.
pytestmark = pytest.mark.usefixtures("isolated_serving")


@pytest.fixture
def users(store):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    OrderLineFactory(order=OrderFactory(user=alice), product=store.product(0, 0))
    OrderLineFactory(order=OrderFactory(user=bob), product=store.product(6, 3))
    return {"alice": alice, "bob": bob, "staff": StaffFactory(username="boss")}


def _url(name, **kwargs):
    return reverse(f"recommendations:{name}", kwargs=kwargs or None)


# Every route of recommendations.urls with who may call it: a new route must be added
# here, or test_every_route_has_a_permission_entry fails.
ROUTES = {
    "me": ("get", {"anonymous": 403, "alice": 200, "staff": 200}),
    "user": ("get", {"anonymous": 403, "alice": 403, "staff": 200}),
    "similar": ("get", {"anonymous": 200, "alice": 200, "staff": 200}),
    "bought-together": ("get", {"anonymous": 200, "alice": 200, "staff": 200}),
    "trending": ("get", {"anonymous": 200, "alice": 200, "staff": 200}),
    "followed": ("get", {"anonymous": 403, "alice": 200, "staff": 200}),
    "events": ("post", {"anonymous": 202, "alice": 202, "staff": 202}),
    "training-runs": ("get", {"anonymous": 403, "alice": 403, "staff": 200}),
    "training-run": ("get", {"anonymous": 403, "alice": 403, "staff": 200}),
}


def test_every_route_has_a_permission_entry():
    assert {pattern.name for pattern in urlpatterns} == set(ROUTES)


def _route_kwargs(name, store, users):
    pattern = next(p for p in urlpatterns if p.name == name)
    kwargs = {}
    if "pk" in pattern.pattern.converters:
        kwargs["pk"] = {
            "user": users["bob"].pk,  # alice asks for bob's list
            "training-run": store.run.pk,
        }.get(name, store.product(0, 0).pk)
    return kwargs


@pytest.mark.parametrize("who", ["anonymous", "alice", "staff"])
@pytest.mark.parametrize("name", [pattern.name for pattern in urlpatterns])
def test_who_may_call_each_route(client, store, users, name, who):
    method, expected = ROUTES[name]
    if who != "anonymous":
        client.force_login(users[who])
    url = _url(name, **_route_kwargs(name, store, users))

    if method == "post":
        response = client.post(
            url,
            {"product": store.product(0, 0).pk, "kind": "click"},
            content_type="application/json",
        )
    else:
        response = client.get(url)

    assert response.status_code == expected[who], response.content


def test_me_lists_only_the_signed_in_shoppers_own_reasons(client, store, users):
    client.force_login(users["alice"])

    results = client.get(_url("me"), {"n": 10}).json()["results"]

    assert len(results) == 10
    assert results[0]["reason"] == "Because you bought A0"
    assert not [r for r in results if "G3" in r["reason"]]  # bob's purchase
    assert str(store.product(0, 0).pk) not in {r["item_id"] for r in results}
    assert set(results[0]) == {
        "item_id",
        "label",
        "url",
        "price",
        "score",
        "reason",
        "social_reason",
        "source",
    }


def test_staff_see_a_customers_list(client, store, users):
    client.force_login(users["staff"])

    results = client.get(_url("user", pk=users["bob"].pk), {"n": 3}).json()["results"]

    assert results[0]["reason"] == "Because you bought G3"


def test_similar_and_bought_together_exclude_the_product(client, store):
    product = store.product(4, 0)
    reasons = {"similar": "Similar to E0", "bought-together": "Often bought with E0"}
    for name, reason in reasons.items():
        results = client.get(_url(name, pk=product.pk), {"n": 4}).json()["results"]
        assert len(results) == 4
        assert str(product.pk) not in {r["item_id"] for r in results}
        assert results[0]["reason"] == reason


@pytest.mark.parametrize("name", ["similar", "bought-together"])
def test_a_product_list_holds_only_its_own_items_and_may_be_empty(client, store, name):
    source = name.replace("-", "_")
    newcomer = ProductFactory(name="Newcomer", category=store.categories[0])

    lone = client.get(_url(name, pk=newcomer.pk), {"n": 4})
    many = client.get(_url(name, pk=store.product(4, 0).pk), {"n": 20}).json()["results"]

    # Nothing to show is an empty list, never trending items under this route.
    assert lone.status_code == 200 and lone.json() == {"results": []}
    # E0's seven neighbours, not twenty padded with others.
    assert len(many) == 7 and {r["source"] for r in many} == {source}


def test_me_of_a_shopper_without_history_labels_its_fallback_items(client, store, users):
    client.force_login(UserFactory(username="newcomer"))

    results = client.get(_url("me"), {"n": 4}).json()["results"]

    assert len(results) == 4
    assert {r["source"] for r in results} <= {"trending", "popular", "catalog"}
    assert not [r for r in results if r["reason"].startswith("Because you")]


def test_trending_filters_by_category(client, store):
    category = store.categories[1]

    results = client.get(_url("trending"), {"n": 3, "category": category.pk}).json()["results"]

    assert [r["reason"] for r in results] == ["Trending in Cat B"] * 3


@pytest.mark.parametrize("n", ["0", "101", "abc", "2.5", "-3"])
@pytest.mark.parametrize("name", ["me", "similar", "trending"])
def test_n_outside_1_to_100_is_a_400_naming_the_field(client, store, users, name, n):
    client.force_login(users["alice"])
    url = _url(name, **({"pk": store.product(0, 0).pk} if name == "similar" else {}))

    response = client.get(url, {"n": n})

    assert response.status_code == 400
    assert "n" in response.json()


def test_a_too_long_category_is_a_400_naming_the_field(client, store):
    response = client.get(_url("trending"), {"category": "x" * 65})

    assert response.status_code == 400
    assert "category" in response.json()


@pytest.mark.parametrize("pk", ["999999", "not-a-number"])
@pytest.mark.parametrize("name", ["similar", "bought-together"])
def test_an_unknown_product_is_a_404(client, store, name, pk):
    assert client.get(_url(name, pk=pk)).status_code == 404


def test_unknown_user_and_training_run_are_404_for_staff(client, store, users):
    client.force_login(users["staff"])

    assert client.get(_url("user", pk=999999)).status_code == 404
    assert client.get(_url("training-run", pk=999999)).status_code == 404


def test_staff_list_and_read_training_runs(client, store, users):
    client.force_login(users["staff"])

    runs = client.get(_url("training-runs")).json()
    detail = client.get(_url("training-run", pk=store.run.pk)).json()

    assert [run["id"] for run in runs] == list(TrainingRun.objects.values_list("pk", flat=True))
    assert detail["algorithm"] == "item_knn"
    assert detail["is_active"] is True
    assert "artifact" not in detail


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "view"}, "product"),
        ({"product": "999999", "kind": "view"}, "product"),
        ({"product": "1", "kind": "purchase"}, "kind"),
        ({"product": "1", "kind": "click", "block": "nowhere"}, "block"),
    ],
)
def test_bad_events_are_a_400_naming_the_field(client, store, body, field):
    response = client.post(_url("events"), body, content_type="application/json")

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    "body", ["[" * 5000 + "]" * 5000, '{"kind": "view", "x": ' + "[" * 5000 + "]" * 5000 + "}"]
)
def test_json_nested_too_deeply_is_a_400(client, store, body):
    response = client.post(_url("events"), body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested too deeply."}


def test_a_body_over_djangos_limits_is_a_json_400(client, store):
    too_big = json.dumps({"product": "1", "kind": "view", "x": "a" * 3_000_000})
    too_many = {f"field{i}": "1" for i in range(1200)}

    big = client.post(_url("events"), too_big, content_type="application/json")
    many = client.post(_url("events"), too_many)

    assert (big.status_code, big.json()) == (400, {"detail": "The request body is too large."})
    assert (many.status_code, many.json()) == (
        400,
        {"detail": "The request has too many fields."},
    )


def test_the_event_route_reads_json_and_forms_with_its_own_parsers():
    # DRF gives a view the host's DEFAULT_PARSER_CLASSES when the class is made; the
    # route names its own, so a host's choice cannot take the click script's form away.
    parsers = [type(parser) for parser in EventView().get_parsers()]

    assert parsers == [JSONParser, FormParser, MultiPartParser]


def test_an_anonymous_view_event_feeds_the_session_lists(client, store):
    product = store.product(1, 0)

    response = client.post(
        _url("events"), {"product": product.pk, "kind": "view"}, content_type="application/json"
    )

    assert response.status_code == 202
    assert client.session[SESSION_KEY] == [str(product.pk)]


def test_requests_over_the_rate_are_throttled(client, store, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "2/min", "user": "2/min"},
    }

    codes = [client.get(_url("trending"), {"n": 1}).status_code for _ in range(3)]

    assert codes == [200, 200, 429]


def test_the_openapi_schema_lists_every_route(client, store):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for pattern in urlpatterns:
        # drf-spectacular names primary-key path parameters "id".
        route = "/api/recommendations/" + re.sub(r"<\w+:pk>", "{id}", str(pattern.pattern))
        assert route in paths, route
    me = paths["/api/recommendations/me/"]["get"]
    assert {p["name"] for p in me["parameters"]} == {"n"}
    assert "200" in me["responses"]


def test_a_category_key_of_the_wrong_type_is_a_400_naming_the_field(client, store):
    response = client.get(_url("trending"), {"category": "not-a-number"})

    assert response.status_code == 400
    assert "category" in response.json()


# -- staff routes follow the admin's permissions ----------------------------------------

STAFF_ROUTES = ["user", "training-runs", "training-run"]


def _staff_member(*codenames, **fields):
    member = UserFactory(username="clerk", **{"is_staff": True, **fields})
    member.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="recommendations", codename__in=codenames
        )
    )
    return member


def _staff_route(name, store, users):
    return _url(name, **_route_kwargs(name, store, users))


@pytest.mark.parametrize("name", STAFF_ROUTES)
def test_staff_without_the_training_run_permission_are_refused_like_the_admin(
    client, store, users, name
):
    client.force_login(_staff_member())

    response = client.get(_staff_route(name, store, users))

    assert response.status_code == 403
    assert "detail" in response.json()
    # The admin's preview of a customer refuses them too: the API shows no more.
    preview = client.get(reverse("admin:recommendations_preview"), {"customer": "bob"})
    assert preview.status_code == 403


@pytest.mark.parametrize("codename", ["view_trainingrun", "change_trainingrun"])
@pytest.mark.parametrize("name", STAFF_ROUTES)
def test_staff_the_admin_lets_see_training_runs_may_call_the_staff_routes(
    client, store, users, name, codename
):
    client.force_login(_staff_member(codename))

    response = client.get(_staff_route(name, store, users))

    assert response.status_code == 200
    preview = client.get(reverse("admin:recommendations_preview"), {"customer": "bob"})
    assert preview.status_code == 200


@pytest.mark.parametrize(
    "fields", [{"is_staff": False}, {"is_active": False}], ids=["not-staff", "inactive"]
)
def test_the_permission_alone_is_not_enough_without_active_staff_status(
    client, store, users, fields
):
    client.force_login(_staff_member("view_trainingrun", **fields))

    for name in STAFF_ROUTES:
        assert client.get(_staff_route(name, store, users)).status_code == 403


# -- every number out of range is a 400 naming the field, never a 500 ------------------

HUGE = "9223372036854775808"  # one past the largest 64-bit integer


@pytest.mark.parametrize("value", [HUGE, f"-{HUGE}9", "1" * 400, "1.5", "1e3", "abc"])
def test_a_category_key_out_of_range_is_a_400_naming_the_field(client, store, value):
    response = client.get(_url("trending"), {"category": value})

    assert response.status_code == 400, response.content
    assert "category" in response.json()


@pytest.mark.parametrize("value", ["-1", "0", "9223372036854775807"])
def test_an_unknown_category_in_range_lists_nothing(client, store, value):
    response = client.get(_url("trending"), {"category": value})

    assert response.status_code == 200
    assert response.json() == {"results": []}


@pytest.mark.parametrize("n", [HUGE, f"-{HUGE}", "1" * 400])
def test_a_huge_n_is_a_400_naming_the_field(client, store, n):
    response = client.get(_url("trending"), {"n": n})

    assert response.status_code == 400
    assert "n" in response.json()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"impression": "x" * 17, "position": 1}, "impression"),
        ({"impression": "", "position": 1}, "impression"),
        ({"impression": "abc", "position": int(HUGE)}, "position"),
        ({"impression": "abc", "position": -1}, "position"),
        ({"impression": "abc", "position": "1e400"}, "position"),
        ({"impression": "abc"}, "position"),
        ({"position": 0}, "impression"),
    ],
)
def test_a_click_with_an_out_of_range_impression_or_position_is_a_400(client, store, extra, field):
    body = {"product": store.product(0, 0).pk, "kind": "click", **extra}

    response = client.post(_url("events"), body, content_type="application/json")

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("pk", [HUGE, f"-{HUGE}", "-1", "0", "1.5", "abc"])
@pytest.mark.parametrize("name", ["similar", "bought-together", "user", "training-run"])
def test_a_key_in_a_path_that_names_nothing_is_a_json_404(client, store, users, name, pk):
    client.force_login(users["staff"])

    response = client.get(_url(name, pk=pk))

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


# -- the schema says what the API answers ----------------------------------------------


def _schema(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_schema_describes_the_results_envelope_and_every_refusal(client, store):
    schema = _schema(client)
    paths, components = schema["paths"], schema["components"]["schemas"]

    envelope = components["RecommendationList"]
    assert envelope["required"] == ["results"]
    assert envelope["properties"]["results"]["type"] == "array"
    expected = {
        "me": {"200", "400", "403", "429"},
        "users/{id}": {"200", "400", "403", "404", "429"},
        "products/{id}/similar": {"200", "400", "404", "429"},
        "products/{id}/bought-together": {"200", "400", "404", "429"},
        "trending": {"200", "400", "429"},
    }
    for route, codes in expected.items():
        get = paths[f"/api/recommendations/{route}/"]["get"]
        assert set(get["responses"]) == codes, route
        ok = get["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/RecommendationList"}
        n = next(p for p in get["parameters"] if p["name"] == "n")["schema"]
        assert (n["minimum"], n["maximum"]) == (1, 100)
    runs = paths["/api/recommendations/training-runs/"]["get"]["responses"]
    assert runs["200"]["content"]["application/json"]["schema"]["type"] == "array"
    assert set(runs) == {"200", "403", "429"}
    run = paths["/api/recommendations/training-runs/{id}/"]["get"]["responses"]
    assert set(run) == {"200", "403", "404", "429"}


def test_the_schema_states_the_event_body_constraints(client, store):
    schema = _schema(client)

    event = schema["components"]["schemas"]["Event"]
    post = schema["paths"]["/api/recommendations/events/"]["post"]
    assert set(post["responses"]) == {"202", "400", "403", "429"}
    position = event["properties"]["position"]
    assert (position["minimum"], position["maximum"]) == (0, 1000)
    assert event["properties"]["impression"]["maxLength"] == 16
    assert event["properties"]["product"]["minLength"] == 1
    # A click names both the impression and the position, or neither.
    assert {"required": ["impression", "position"]} in event["anyOf"]


def test_the_schema_bounds_the_category_key_as_the_database_does(client, store):
    trending = _schema(client)["paths"]["/api/recommendations/trending/"]["get"]

    category = next(p for p in trending["parameters"] if p["name"] == "category")["schema"]

    assert category["type"] == "integer"
    assert category["maximum"] == 2**63 - 1 and category["minimum"] == -(2**63)


def test_the_schema_works_in_a_host_without_a_default_schema_class(client, store, settings):
    settings.REST_FRAMEWORK = {
        key: value
        for key, value in settings.REST_FRAMEWORK.items()
        if key != "DEFAULT_SCHEMA_CLASS"
    }

    paths = _schema(client)["paths"]

    me = paths["/api/recommendations/me/"]["get"]
    assert "RecommendationList" in json.dumps(me["responses"]["200"])
    assert "/api/recommendations/training-runs/{id}/" in paths


@pytest.mark.parametrize("field", ["n", "category"])
def test_an_empty_number_is_a_400_naming_the_field_not_the_default(client, store, field):
    response = client.get(_url("trending"), {field: ""})

    assert response.status_code == 400
    assert field in response.json()


def test_a_host_without_throttle_rates_still_gets_the_apps_defaults(settings):
    settings.REST_FRAMEWORK = {}

    assert app_settings.API_THROTTLE_RATES == {"anon": "120/min", "user": "600/min"}


def test_the_apps_own_rate_limits_anonymous_clients_whatever_the_host_says(
    client, store, settings
):
    settings.REST_FRAMEWORK = {"DEFAULT_THROTTLE_RATES": {"anon": "1000/min"}}
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "API_THROTTLE_RATES": {"anon": "2/day"},
    }

    statuses = [client.get(_url("trending"), {"n": 2}).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_the_api_signs_in_with_sessions_whatever_the_hosts_default(client, users, settings):
    settings.REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": []}
    client.force_login(users["alice"])

    response = client.get(_url("me"), {"n": 2})

    assert response.status_code == 200


def test_a_refused_n_answers_what_a_fresh_serializer_says_and_leaves_no_state(
    client, store, users
):
    # One bound query serializer validates every request: its errors must be those of
    # a serializer built for the request, and a refused request must not leak into the
    # next one.
    client.force_login(users["alice"])
    fresh = ListQuerySerializer(data={"n": "abc"})
    assert not fresh.is_valid()

    refused = client.get(_url("me"), {"n": "abc"})
    served = client.get(_url("me"), {"n": 2})
    default = client.get(_url("me")).json()["results"]
    explicit = client.get(_url("me"), {"n": DEFAULT_N}).json()["results"]

    assert refused.status_code == 400
    assert refused.json() == json.loads(json.dumps(fresh.errors))
    assert len(served.json()["results"]) == 2
    assert len(default) > 2
    assert default == explicit


def test_a_changed_list_of_throttle_classes_applies_at_once(client, store, settings):
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "API_THROTTLE_RATES": {"anon": "1/day"},
    }
    first = [client.get(_url("trending"), {"n": 1}).status_code for _ in range(2)]
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "API_THROTTLE_CLASSES": []}
    unthrottled = client.get(_url("trending"), {"n": 1}).status_code

    assert first == [200, 429]
    assert unthrottled == 200
