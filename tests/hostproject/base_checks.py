"""Checks of the library host on the base install: neither Celery nor DRF importable.

Run by tests/recommendations/test_drop_in_host.py through
tests/hostproject/without_extras.py with tests.hostproject.settings_base; fixtures:
tests/hostproject/fixtures.py. Not collected by the main run.
"""

from __future__ import annotations

import importlib
import sys
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.template import Context, Template
from django.test import RequestFactory

from recommendations import serving
from recommendations.models import TrainingRun
from recommendations.session import SESSION_KEY
from tests.hostproject.library.models import Loan

# One page each: on one page a block leaves out what the blocks before it showed, and
# this library is too small to leave bought-together anything after the others.
TAGS = {
    "for_you": "{% recommended_for_you n=3 %}",
    "similar": "{% similar_products book n=2 %}",
    "bought_together": "{% bought_together product=book n=2 %}",
    "trending": "{% trending_products n=3 %}",
    "recently_viewed": "{% recently_viewed n=2 %}",
}


def _render(source: str, request: Any, book: Any) -> str:
    template = Template("{% load recommendations_tags %}" + source)
    return template.render(Context({"request": request, "book": book}))


@pytest.fixture
def library(books):
    """The books, trained by the management command."""
    out = StringIO()
    call_command("train_recommendations", stdout=out)
    assert "Serving run #" in out.getvalue()
    serving.reset()
    return books


@pytest.mark.parametrize("module", ["celery", "rest_framework", "drf_spectacular"])
def test_the_extras_cannot_be_imported(module):
    with pytest.raises(ImportError):
        importlib.import_module(module)


def test_the_training_command_trains_without_celery(library):
    run = TrainingRun.objects.get(is_active=True)

    assert run.status == TrainingRun.Status.SUCCEEDED
    loaded = [name for name, module in sys.modules.items() if module is not None]
    assert not [name for name in loaded if name.partition(".")[0] in {"celery", "kombu"}]


def test_every_template_tag_renders_without_celery_or_drf(library):
    reader = get_user_model().objects.create_user("reader")
    Loan.objects.create(reader=reader, book=library["crime0"])
    for block, source in TAGS.items():
        request = RequestFactory().get("/")
        request.user = reader
        # A view kept in the session: recently viewed lists only what the reader viewed.
        request.session = {SESSION_KEY: [str(library["travel2"].pk)]}
        html = _render(source, request, library["crime0"])
        assert f'data-rec-block="{block}"' in html, block
        if block == "for_you":
            assert "Because you borrowed Crime 0" in html
        anonymous = RequestFactory().get("/")
        anonymous.user, anonymous.session = AnonymousUser(), {}
        # An anonymous reader who viewed nothing has no recently viewed block.
        shown = _render(source, anonymous, library["poetry0"])
        assert ("rec-item" in shown) == (block != "recently_viewed"), block


def test_the_admin_trains_now_in_process_without_celery(
    books, admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/recommendations/trainingrun/", {"action": "train_now"}
        )

    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED and run.is_active, run.error
    assert admin_client.get("/admin/recommendations/trainingrun/").status_code == 200


def test_including_the_api_without_drf_names_the_extra():
    with pytest.raises(ImproperlyConfigured, match=r"django-shop-recommendations\[api\]"):
        importlib.import_module("recommendations.urls")
