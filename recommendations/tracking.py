"""Impressions and clicks of the recommendation blocks, and the click-through they add up to.

Recording is cheap: a rendered block is one row holding the shown item keys in order,
whatever the length of the list. With :class:`recommendations.middleware.ImpressionMiddleware`
the rows of a whole page are stored in one INSERT once the response is rendered, else
each block is one INSERT; a click is a lookup of its impression, and of the clicker's
consent, and one INSERT (none for a repeat: one click per impression and position).
Rows are only ever inserted, never updated, so concurrent requests cannot lose one.
A user who did not consent to personalisation is not remembered: their impressions
and clicks are stored without the user (so they count, but never convert).

Click-through and conversion are computed with a few aggregate queries, grouped by
block, training run (the algorithm version) or experiment group.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Exists, ExpressionWrapper, F, OuterRef, Q
from django.db.models.functions import Cast
from django.utils.translation import gettext

from recommendations.adapters import get_adapter
from recommendations.conf import app_settings
from recommendations.experiments import assignment_for
from recommendations.models import Click, Experiment, Impression, TrainingRun

# Where a request remembers its user's consent, so a page of blocks asks once.
_CONSENT_ATTRIBUTE = "_recommendations_consents"
GROUPINGS = {"block", "run", "bucket"}
# Set on the request of the admin preview: what staff look at is not an impression.
PREVIEW_ATTRIBUTE = "recommendations_preview"
# Where a request collects its impressions until the middleware stores them.
PENDING_ATTRIBUTE = "_recommendations_impressions"


def consent_known(request: Any, consents: bool) -> None:
    """Tell the impressions of ``request`` whether its shopper consents (known already:
    a shopper with a history does), sparing them the query."""
    if request is not None:
        setattr(request, _CONSENT_ATTRIBUTE, consents)


def _consenting_user(user: Any, request: Any = None) -> Any:
    """``user`` when they may be remembered, else None."""
    if not getattr(user, "is_authenticated", False):
        return None
    consents = getattr(request, _CONSENT_ATTRIBUTE, None) if request is not None else None
    if consents is None:
        consents = get_adapter().user_consents(user)
        if request is not None:
            setattr(request, _CONSENT_ATTRIBUTE, consents)
    return user if consents else None


def impression_record(
    *, block: str, recommendations: Sequence[Any], user: Any = None, request: Any = None
) -> str | None:
    """Store what a block showed and return the impression's token.

    One INSERT, or none while the request collects its impressions
    (:func:`impressions_collect`): then the row is stored by :func:`impressions_flush`.
    Returns None when nothing was shown or tracking is off. The run is the one that
    chose the items (``Recommendation.run_id``); the experiment group is the user's.
    """
    if (
        not recommendations
        or not app_settings.TRACK_IMPRESSIONS
        or getattr(request, PREVIEW_ATTRIBUTE, False)
    ):
        return None
    assignment = assignment_for(user)
    impression = Impression(
        block=block,
        run_id=getattr(recommendations[0], "run_id", None),
        experiment=assignment.experiment,
        bucket=assignment.bucket,
        user=_consenting_user(user, request),
        item_pks=[str(rec.item.pk) for rec in recommendations],
    )
    pending = getattr(request, PENDING_ATTRIBUTE, None)
    if pending is not None:
        # The token is chosen now, so the page can link clicks to the row stored later.
        pending.append(impression)
    else:
        impression.save(force_insert=True)
    return impression.token


def impressions_collect(request: Any) -> None:
    """Collect the impressions recorded for ``request`` until :func:`impressions_flush`."""
    setattr(request, PENDING_ATTRIBUTE, [])


def impressions_flush(request: Any) -> int:
    """Store the impressions collected for ``request`` in one INSERT; return how many.

    Impressions recorded afterwards (a streamed response) are stored one by one.
    """
    pending = getattr(request, PENDING_ATTRIBUTE, None)
    if pending is None:
        return 0
    delattr(request, PENDING_ATTRIBUTE)
    if pending:
        Impression.objects.bulk_create(pending)
    return len(pending)


def click_record(
    *, token: str, position: int, item_pk: Any, user: Any = None, block: str | None = None
) -> Click:
    """Store a click on the item at ``position`` of impression ``token``, once.

    Raises ValidationError naming the field when the impression is unknown, is of
    another ``block`` or did not show ``item_pk`` at ``position``: a forged click is
    refused, not counted. A second click on the same position returns the first (a
    click repeated or replayed counts once). The click is the clicker's only if the
    impression was theirs or nobody's: another user's click on a shopper's impression
    (or one the API could not sign in) counts without a user, so never converts.
    """
    shown = Impression.objects.filter(pk=token).values("item_pks", "user_id", "block").first()
    if shown is None:
        raise ValidationError({"impression": gettext("Unknown impression.")})
    if block and block != shown["block"]:
        raise ValidationError({"block": gettext("The impression is of another block.")})
    items = shown["item_pks"]
    if not 0 <= position < len(items) or items[position] != str(item_pk):
        raise ValidationError(
            {"position": gettext("The impression did not show this item there.")}
        )
    clicker = _consenting_user(user)
    if shown["user_id"] is not None and getattr(clicker, "pk", None) != shown["user_id"]:
        clicker = None
    click, _created = Click.objects.get_or_create(
        impression_id=token,
        position=position,
        defaults={"item_pk": str(item_pk), "user": clicker},
    )
    return click


@dataclass(frozen=True)
class ClickThrough:
    """Counts of one group (a block, a run, an experiment group, or a combination)."""

    block: str | None
    run_id: int | None
    algorithm: str | None
    bucket: str | None
    impressions: int
    clicked_impressions: int
    clicks: int
    conversions: int

    @property
    def ctr(self) -> float | None:
        """Share of impressions that got at least one click."""
        return self.clicked_impressions / self.impressions if self.impressions else None

    @property
    def conversion_rate(self) -> float | None:
        """Share of clicks followed by a purchase of the clicked item."""
        return self.conversions / self.clicks if self.clicks else None


def _catalog_key_field() -> models.Field:
    """A field to cast stored item keys (text) to the catalog's key type."""
    internal = get_adapter().catalog_model()._meta.pk.get_internal_type()
    if "Integer" in internal or "AutoField" in internal:
        return models.BigIntegerField()
    if internal == "UUIDField":
        return models.UUIDField()
    return models.CharField()


def _converted() -> Q:
    """Clicks followed, within ``CONVERSION_DAYS``, by the same user buying the item."""
    names = set(app_settings.CONVERSION_SOURCES)
    window = dt.timedelta(days=app_settings.CONVERSION_DAYS)
    until = ExpressionWrapper(OuterRef("created_at") + window, output_field=models.DateTimeField())
    key_field = _catalog_key_field()
    condition = Q(pk__in=[])
    for source in app_settings.EVENT_SOURCES:
        if source.name not in names:
            continue
        purchases = (
            apps.get_model(source.model)
            ._default_manager.filter(**source.filter)
            .filter(
                **{
                    source.user_field: OuterRef("user_id"),
                    source.item_field: Cast(OuterRef("item_pk"), output_field=key_field),
                    f"{source.time_field}__gte": OuterRef("created_at"),
                    f"{source.time_field}__lte": until,
                }
            )
        )
        condition |= Q(Exists(purchases))
    return condition


def click_through_report(
    *,
    by: Sequence[str] = ("block", "run"),
    since: dt.datetime | None = None,
    experiment: Experiment | None = None,
) -> list[ClickThrough]:
    """Impressions, clicks, CTR and conversions grouped by ``by`` (block, run, bucket)."""
    unknown = set(by) - GROUPINGS
    if unknown or not by:
        raise ValueError(f"Group by some of {sorted(GROUPINGS)}, got {list(by)!r}.")
    keys = [f"{name}_id" if name == "run" else name for name in by]
    impressions = Impression.objects.all()
    if since is not None:
        impressions = impressions.filter(created_at__gte=since)
    if experiment is not None:
        impressions = impressions.filter(experiment=experiment)
    clicks = Click.objects.filter(impression__in=impressions.values("pk"))
    clicked_keys = {key: F(f"impression__{key}") for key in keys}

    def grouped(queryset: models.QuerySet, **aggregates: Any) -> dict[tuple, dict[str, Any]]:
        rows = queryset.annotate(**aggregates).order_by()
        return {tuple(row[key] for key in keys): row for row in rows}

    shown = grouped(impressions.values(*keys), n=Count("pk"))
    clicked = grouped(
        clicks.values(**clicked_keys),
        n=Count("pk"),
        impressions=Count("impression", distinct=True),
    )
    converted = grouped(
        clicks.filter(user__isnull=False).filter(_converted()).values(**clicked_keys),
        n=Count("pk"),
    )
    run_ids = {group[keys.index("run_id")] for group in shown} if "run_id" in keys else set()
    algorithms = dict(
        TrainingRun.objects.filter(pk__in=[pk for pk in run_ids if pk is not None]).values_list(
            "pk", "algorithm"
        )
    )
    report = []
    for group in sorted(shown, key=lambda g: tuple("" if v is None else str(v) for v in g)):
        values = dict(zip(keys, group, strict=True))
        run_id = values.get("run_id")
        report.append(
            ClickThrough(
                block=values.get("block"),
                run_id=run_id,
                algorithm=algorithms.get(run_id),
                bucket=values.get("bucket"),
                impressions=shown[group]["n"],
                clicked_impressions=clicked.get(group, {}).get("impressions", 0),
                clicks=clicked.get(group, {}).get("n", 0),
                conversions=converted.get(group, {}).get("n", 0),
            )
        )
    return report
