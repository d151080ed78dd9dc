"""Staff screens: training runs with a quality chart and promote/rollback/train actions,
a preview of what any customer is shown, click-through per block and version, live
experiments, and item rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django import forms, template
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from recommendations import experiments, serving, tracking, trust
from recommendations.adapters import get_adapter
from recommendations.background import TrainingQueueUnavailable, training_run_enqueue
from recommendations.conf import METRICS, app_settings
from recommendations.models import (
    Click,
    Experiment,
    Impression,
    ItemRule,
    TrainingLock,
    TrainingRun,
)
from recommendations.services import (
    LOCK_NAME,
    TrainingLocked,
    training_lock_is_stale,
    training_lock_release,
    training_run_promote,
    training_run_rollback,
)
from recommendations.serving.social import names_told
from recommendations.templatetags import recommendations_tags

METRIC_LABELS = {
    "ndcg": "NDCG",
    "recall": gettext_lazy("Recall"),
    "coverage": gettext_lazy("Coverage"),
}
# Colour-blind-safe palette (Okabe-Ito); algorithms beyond it reuse the colours.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 640, 220, 40
# Characters of a promotion note (or error) shown in the list; the rest on hover.
NOTE_CHARS = 70
# At most this many trainings are named under the x-axis (about 90 px per label).
CHART_LABELS = 6
REPORT_PERIODS = {"1": 1, "7": 7, "30": 30, "90": 90, "all": None}
TRAINING_STARTED_KEY = "recommendations:training-started"
# What staff call the blocks (the storefront's titles), by the name impressions record.
BLOCK_LABELS = {
    "for_you": gettext_lazy("Recommended for you"),
    "similar": gettext_lazy("Similar products"),
    "bought_together": gettext_lazy("Frequently bought together"),
    "trending": gettext_lazy("Trending now"),
    "recently_viewed": gettext_lazy("Recently viewed"),
}


def training_progress() -> dict[str, Any]:
    """The running training (stage, algorithm, percent, heartbeat) and the newest run."""
    lock = TrainingLock.objects.filter(name=LOCK_NAME).first()
    latest = TrainingRun.objects.order_by("-pk").values_list("pk", flat=True).first()
    if lock is None:
        return {"running": False, "stale": False, "latest_run": latest}
    return {
        "running": True,
        "stale": training_lock_is_stale(lock),
        "stage": lock.stage,
        "algorithm": lock.algorithm,
        "percent": lock.percent,
        "batch": lock.batch,
        "holder": lock.holder,
        "acquired_at": lock.acquired_at.isoformat(),
        "heartbeat_at": lock.heartbeat_at.isoformat(),
        "progress_at": lock.progress_at.isoformat() if lock.progress_at else None,
        "latest_run": latest,
    }


@dataclass(frozen=True)
class _Series:
    algorithm: str
    colour: str
    points: str  # an SVG polyline's "x,y x,y", through the runs evaluated on enough users
    dots: list[tuple[float, float, str, bool]]  # x, y, title, evaluated on too few users


def quality_chart(metric: str) -> dict[str, Any]:
    """One line per algorithm of a holdout metric over the trainings, as SVG geometry.

    Each training (a batch of runs) gets one place on the x-axis, in order, evenly
    spaced: the runs of a batch start within seconds of each other and trainings may
    be months apart, so a time axis would pile some points up and spread others. One
    training sits in the middle; of many, at most ``CHART_LABELS`` are labelled.
    """
    runs = list(
        TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED)
        .order_by("created_at", "pk")
        .values_list("pk", "algorithm", "batch", "created_at", "metrics")
    )
    measured = [
        (
            pk,
            algorithm,
            batch or f"run-{pk}",
            created,
            float(metrics[metric]),
            int(metrics.get("users") or 0),
        )
        for pk, algorithm, batch, created, metrics in runs
        if isinstance(metrics, dict) and isinstance(metrics.get(metric), int | float)
    ]
    label = f"{METRIC_LABELS.get(metric, metric)}@{app_settings.EVALUATION_K}"
    if not measured:
        return {"metric": metric, "label": label, "series": []}
    started: dict[str, dt.datetime] = {}
    for row in measured:
        started.setdefault(row[2], row[3])
    position = {batch: index for index, batch in enumerate(started)}
    top = max(value for *_, value, _users in measured) or 1.0
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD

    def x_of(index: int) -> float:
        return round(CHART_PAD + (index + 0.5) / len(started) * inner_w, 1)

    by_algorithm: dict[str, list[tuple[float, float, str, bool]]] = {}
    for pk, algorithm, batch, created, value, users in measured:
        y = round(CHART_PAD + (1 - value / top) * inner_h, 1)
        # A handful of users is luck, not quality: a hollow dot, off the line.
        sparse = users < app_settings.MIN_USERS
        title = _("%(run)s: %(value)s over %(users)s users (%(created)s)") % {
            "run": f"{algorithm} #{pk}",
            "value": f"{value:.4f}",
            "users": users,
            "created": f"{created:%Y-%m-%d %H:%M}",
        }
        if sparse:
            title += _(", fewer than MIN_USERS (%(min_users)s): not comparable") % {
                "min_users": app_settings.MIN_USERS
            }
        by_algorithm.setdefault(algorithm, []).append((x_of(position[batch]), y, title, sparse))
    series = [
        _Series(
            algorithm=algorithm,
            colour=PALETTE[i % len(PALETTE)],
            points=" ".join(f"{x},{y}" for x, y, _, sparse in dots if not sparse),
            dots=dots,
        )
        for i, (algorithm, dots) in enumerate(sorted(by_algorithm.items()))
    ]
    ticks = [(round(CHART_PAD + (1 - f) * inner_h, 1), f"{top * f:.3f}") for f in (0, 0.5, 1.0)]
    times = list(started.values())
    shown = min(len(times), CHART_LABELS)
    labelled = sorted({round(k * (len(times) - 1) / max(shown - 1, 1)) for k in range(shown)})
    x_labels = [
        (
            x_of(index),
            _label_anchor(index, labelled),
            timezone.localtime(times[index]).strftime("%Y-%m-%d %H:%M"),
        )
        for index in labelled
    ]
    return {
        "metric": metric,
        "label": label,
        "series": series,
        "ticks": ticks,
        "x_labels": x_labels,
        "trainings": len(times),
        "radius": 3.5 if len(times) <= 40 else 2.5,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_PAD,
        "right": CHART_WIDTH - CHART_PAD,
        "bottom": CHART_HEIGHT - CHART_PAD,
        "top": CHART_PAD,
    }


def _label_anchor(index: int, labelled: list[int]) -> str:
    """SVG text-anchor of an x-axis label: the end labels of several stay inside."""
    if len(labelled) > 1 and index == labelled[0]:
        return "start"
    if len(labelled) > 1 and index == labelled[-1]:
        return "end"
    return "middle"


def _metric(name: str, label: str) -> Any:
    """A list column showing one holdout metric of a run."""

    @admin.display(description=label)
    def show(model_admin: admin.ModelAdmin, run: TrainingRun) -> str:
        value = run.metric(name)
        return "—" if value is None else f"{value:.4f}"

    return show


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "algorithm",
        "status",
        "serving",
        "ndcg",
        "recall",
        "coverage",
        "data",
        "duration",
        "created",
        "note",
    ]
    list_filter = ["status", "is_active", "algorithm"]
    search_fields = ["algorithm", "batch", "error"]
    date_hierarchy = "created_at"
    actions = ["promote", "rollback", "train_now"]
    # The cut-off k is in the charts' titles: short headers leave room for the table.
    ndcg = _metric("ndcg", "NDCG")
    recall = _metric("recall", gettext_lazy("Recall"))
    coverage = _metric("coverage", gettext_lazy("Coverage"))

    @admin.display(description=gettext_lazy("Duration"), ordering="duration_seconds")
    def duration(self, run: TrainingRun) -> str:
        return "—" if run.duration_seconds is None else f"{run.duration_seconds:.1f} s"

    # Short headers and values that wrap, so the list fits a 1280-pixel screen beside
    # the filters; the run's own page has every field.
    @admin.display(description=gettext_lazy("Serving"), boolean=True, ordering="is_active")
    def serving(self, run: TrainingRun) -> bool:
        return run.is_active

    @admin.display(description=gettext_lazy("Trained on"), ordering="n_events")
    def data(self, run: TrainingRun) -> str:
        return _("%(users)s users · %(items)s items · %(events)s events") % {
            "users": f"{run.n_users:,}",
            "items": f"{run.n_items:,}",
            "events": f"{run.n_events:,}",
        }

    @admin.display(description=gettext_lazy("Created"), ordering="created_at")
    def created(self, run: TrainingRun) -> str:
        return timezone.localtime(run.created_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description=gettext_lazy("Note"))
    def note(self, run: TrainingRun) -> str:
        # What the training left out (EASE above max_items) comes before the promotion.
        notes = [str(note) for note in (run.metrics or {}).get("notes") or []]
        text = " ".join([*notes, run.promotion_note or run.error]) if notes else None
        text = text or run.promotion_note or run.error
        if len(text) <= NOTE_CHARS:
            return text
        return format_html('<span title="{}">{}…</span>', text, text[: NOTE_CHARS - 1])

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Runs are a record of what happened: only the actions change them.
        return [field.name for field in self.model._meta.fields] + ["selection"]

    @admin.display(description=gettext_lazy("Chosen on validation folds"))
    def selection(self, run: TrainingRun) -> str:
        """The folds, fold scores and margin over the runner-up that chose this run."""
        report = (run.metrics or {}).get("selection")
        if not isinstance(report, dict):
            return "—"
        return render_to_string("admin/recommendations/trainingrun/_selection.html", report)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(
        description=gettext_lazy("Promote the selected run (serve it now)"), permissions=["change"]
    )
    def promote(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one run to promote."), messages.ERROR)
            return
        try:
            run = training_run_promote(run=queryset.get(), user=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return
        self.message_user(
            request,
            _("Run #%(pk)s (%(algorithm)s) now serves.")
            % {"pk": run.pk, "algorithm": run.algorithm},
        )

    @admin.action(
        description=gettext_lazy("Roll back to the previous version"), permissions=["change"]
    )
    def rollback(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        try:
            run = training_run_rollback(user=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return
        self.message_user(
            request,
            _("Rolled back: run #%(pk)s (%(algorithm)s) serves again.")
            % {"pk": run.pk, "algorithm": run.algorithm},
        )

    @admin.action(
        description=gettext_lazy("Train now (in the background)"), permissions=["change"]
    )
    def train_now(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        try:
            training_run_enqueue(user=request.user)
        except TrainingLocked as exc:
            self.message_user(request, str(exc), messages.WARNING)
            return
        except TrainingQueueUnavailable:
            text = _(
                "No training was queued: the Celery broker cannot be reached. Start the "
                'broker and a worker, or set RECOMMENDATIONS["TRAINING_RUNNER"] to '
                '"process" to train without them.'
            )
            self.message_user(request, text, messages.ERROR)
            return
        # The page shown next waits for the training to appear, then follows it.
        request.session[TRAINING_STARTED_KEY] = True
        if app_settings.TRAINING_RUNNER == "process":
            text = _("Training started in the background; its progress shows below.")
        else:
            text = _(
                "Training queued for the Celery workers; its progress shows below once a "
                "worker starts it."
            )
        self.message_user(request, text)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        # Rollback and train-now act on the whole history, not on a selection: run them
        # even when nothing is ticked (or no run exists yet), as "select all".
        if (
            request.method == "POST"
            and request.POST.get("action") in {"rollback", "train_now"}
            and not request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
        ):
            post = request.POST.copy()
            post.setlist(admin.helpers.ACTION_CHECKBOX_NAME, ["0"])
            post["select_across"] = "1"
            request.POST = post
        charts = [quality_chart(metric) for metric in METRICS]
        extra_context = {
            **(extra_context or {}),
            "charts": charts,
            **self._lock_context(request),
            # Popped only on a page that shows it (the action's POST redirects here).
            "training_started": request.method == "GET"
            and request.session.pop(TRAINING_STARTED_KEY, False),
            "latest_run_pk": TrainingRun.objects.order_by("-pk")
            .values_list("pk", flat=True)
            .first(),
        }
        return super().changelist_view(request, extra_context)

    def _lock_context(self, request: HttpRequest) -> dict[str, Any]:
        lock = TrainingLock.objects.filter(name=LOCK_NAME).first()
        return {
            "training_lock": lock,
            "training_lock_stale": lock is not None and training_lock_is_stale(lock),
            "can_release_lock": self.has_change_permission(request),
        }

    def progress_view(self, request: HttpRequest) -> JsonResponse:
        """How far the running training is, for the training runs page to poll."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return JsonResponse(training_progress())

    def release_lock_view(self, request: HttpRequest) -> HttpResponse:
        """Confirm, then release a stuck training's lock and fail its runs."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        changelist = reverse("admin:recommendations_trainingrun_changelist")
        if request.method == "POST":
            failed = training_lock_release(user=request.user)
            self.message_user(
                request,
                ngettext(
                    "Training lock released; %(count)d unfinished run marked failed.",
                    "Training lock released; %(count)d unfinished runs marked failed.",
                    failed,
                )
                % {"count": failed},
            )
            return HttpResponseRedirect(changelist)
        context = self._context(
            request, _("Release the training lock"), **self._lock_context(request)
        )
        return TemplateResponse(request, "admin/recommendations/release_lock.html", context)

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("preview/", view(self.preview_view), name="recommendations_preview"),
            path(
                "progress/",
                view(self.progress_view),
                name="recommendations_training_progress",
            ),
            path(
                "release-lock/",
                view(self.release_lock_view),
                name="recommendations_release_lock",
            ),
            path(
                "click-through/",
                view(self.click_through_view),
                name="recommendations_click_through",
            ),
            path(
                "signal-jumps/", view(self.signal_jumps_view), name="recommendations_signal_jumps"
            ),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            **extra,
        }

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """What each block shows a customer, built by the storefront's own selectors."""
        form = PreviewForm(request.GET or None)
        context = self._context(request, _("Preview a customer's recommendations"), form=form)
        if form.is_valid():
            context.update(form.preview())
        return TemplateResponse(request, "admin/recommendations/preview.html", context)

    def click_through_view(self, request: HttpRequest) -> HttpResponse:
        """Impressions, clicks, CTR and conversions per block and per version."""
        period = request.GET.get("days", "30")
        if period not in REPORT_PERIODS:
            period = "30"
        days = REPORT_PERIODS[period]
        since = None if days is None else timezone.now() - dt.timedelta(days=days)
        context = self._context(
            request,
            _("Click-through and conversion"),
            period=period,
            periods=list(REPORT_PERIODS),
            conversion_days=app_settings.CONVERSION_DAYS,
            by_block_and_run=_labelled(
                tracking.click_through_report(by=("block", "run"), since=since)
            ),
            by_run=_labelled(tracking.click_through_report(by=("run",), since=since)),
            by_block=_labelled(tracking.click_through_report(by=("block",), since=since)),
        )
        return TemplateResponse(request, "admin/recommendations/click_through.html", context)

    def signal_jumps_view(self, request: HttpRequest) -> HttpResponse:
        """Products whose recent signal came mostly from accounts without a purchase."""
        context = self._context(
            request,
            _("Signal jumps from new accounts"),
            days=app_settings.TRUST_REPORT_DAYS,
            jumps=trust.signal_jumps(),
        )
        return TemplateResponse(request, "admin/recommendations/signal_jumps.html", context)


def _labelled(rows: list[tracking.ClickThrough]) -> list[tuple[str, tracking.ClickThrough]]:
    """Each report row with the human name of its block (its code if unknown)."""
    return [(str(BLOCK_LABELS.get(row.block or "", row.block or "")), row) for row in rows]


class ItemRuleForm(forms.ModelForm):
    """An item rule whose key is written as the catalog's keys are (``"12"``, not
    ``"abc"`` or ``"١٢"``), or serving would never match it to an item."""

    class Meta:
        model = ItemRule
        fields = ["item_pk", "kind", "block", "position", "note", "active", "created_at"]

    def clean_item_pk(self) -> str:
        value = self.cleaned_data["item_pk"].strip()
        model = get_adapter().catalog_model()
        try:
            return str(model._meta.pk.to_python(value))
        except ValidationError:
            raise ValidationError(
                _("%(key)r is not a key of %(model)s.")
                % {"key": value, "model": model._meta.verbose_name}
            ) from None


@admin.register(ItemRule)
class ItemRuleAdmin(admin.ModelAdmin):
    form = ItemRuleForm
    list_display = ["item_pk", "kind", "block", "position", "active", "note", "created_at"]
    list_filter = ["kind", "block", "active"]
    list_editable = ["position", "active"]
    search_fields = ["item_pk", "note"]


class PreviewForm(forms.Form):
    """Which customer (username, customer number, e-mail or id) and, optionally, which
    product to preview."""

    customer = forms.CharField(
        label=gettext_lazy("Customer"),
        max_length=150,
        help_text=gettext_lazy("Username, customer number, e-mail or user id."),
    )
    product = forms.CharField(
        label=gettext_lazy("Product"),
        max_length=64,
        required=False,
        help_text=gettext_lazy("Product key for the product-page blocks."),
    )

    def clean_customer(self) -> Any:
        query = self.cleaned_data["customer"].strip()
        users = get_user_model()._default_manager.all()
        # An exact match wins, in this order; only then does a partial match count.
        exact = [
            users.filter(username__iexact=query),
            get_adapter().users_named(query),
            users.filter(email__iexact=query),
            users.filter(pk=int(query)) if query.isdecimal() else users.none(),
        ]
        for candidates in exact:
            found = list(candidates[:2])
            if len(found) == 1:
                return found[0]
        self.matches = list(
            users.filter(Q(username__icontains=query) | Q(email__icontains=query)).order_by(
                "username"
            )[:20]
        )
        if len(self.matches) == 1:
            return self.matches.pop()
        raise ValidationError(
            _("No single customer matches; pick one below.")
            if self.matches
            else _("No customer matches %(query)r.") % {"query": query}
        )

    def clean_product(self) -> Any:
        key = self.cleaned_data["product"].strip()
        if not key:
            return None
        model = get_adapter().catalog_model()
        try:
            return model._default_manager.get(pk=key)
        except (model.DoesNotExist, ValueError, TypeError, ValidationError):
            raise ValidationError(
                _("No product with key %(key)r.") % {"key": key}, code="unknown"
            ) from None

    def preview(self) -> dict[str, Any]:
        """The blocks of the chosen customer, with who serves them and why."""
        user, product = self.cleaned_data["customer"], self.cleaned_data["product"]
        adapter = get_adapter()
        history = adapter.user_events(user.pk, limit=10)[:10]
        if product is None and history:
            product = (
                adapter.catalog_model()._default_manager.filter(pk=history[0].item_pk).first()
            )
        pages = preview_pages(user=user, product=product)
        assignment = experiments.assignment_for(user)
        model = experiments.model_for_user(user)
        labels = dict(
            (str(item.pk), adapter.item_label(item))
            for item in adapter.catalog_model()._default_manager.filter(
                pk__in=[event.item_pk for event in history]
            )
        )
        social = None
        if app_settings.SOCIAL:
            followed = adapter.user_followed(user.pk)
            social = {
                "followed": followed,
                "names": names_told(adapter, followed),
                "counts": app_settings.SOCIAL.count_non_sharing,
            }
        return {
            "customer": user,
            "product": product,
            "social": social,
            "consents": adapter.user_consents(user),
            "assignment": assignment,
            "serving_run": model.run_id if model else None,
            "serving_algorithm": model.algorithm if model else None,
            "history": [
                (event, labels.get(str(event.item_pk), event.item_pk)) for event in history
            ],
            "pages": pages,
        }


PRODUCT_TAGS = {"similar_products", "bought_together"}


def preview_pages(*, user: Any, product: Any = None) -> list[tuple[str, list[dict[str, Any]]]]:
    """The storefront's own template tags run for ``user`` (empty session and cart).

    Each page of ``PREVIEW_PAGES`` calls its tags in order on one request, so later
    blocks leave out what earlier ones showed, exactly as on the storefront. The
    request is marked as a preview: nothing is recorded as an impression.
    """
    pages = []
    for title, tags in app_settings.PREVIEW_PAGES.items():
        on_product_page = any(tag in PRODUCT_TAGS for tag, _ in tags)
        if product is None and on_product_page:
            continue
        request = HttpRequest()
        request.user = user
        request.session = import_module(settings.SESSION_ENGINE).SessionStore()
        setattr(request, tracking.PREVIEW_ATTRIBUTE, True)
        context = template.Context(
            {"request": request, "product": product if on_product_page else None}
        )
        pages.append(
            (title, [getattr(recommendations_tags, tag)(context, **kw) for tag, kw in tags])
        )
    return pages


class ExperimentForm(forms.ModelForm):
    class Meta:
        model = Experiment
        fields = ["name", "control_run", "challenger_run", "share", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        succeeded = TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED).exclude(
            artifact=""
        )
        for name in ("control_run", "challenger_run"):
            if name in self.fields:  # not on a page the user may only view
                self.fields[name].queryset = succeeded

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        experiments.experiment_validate(
            challenger_run=data.get("challenger_run"), control_run=data.get("control_run")
        )
        return data


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    form = ExperimentForm
    list_display = ["name", "control", "challenger_run", "share", "active", "created_at"]
    list_filter = ["active"]
    actions = ["promote_challenger", "keep_control"]

    @admin.display(description=gettext_lazy("Control"))
    def control(self, experiment: Experiment) -> str:
        return str(experiment.control_run) if experiment.control_run else _("the active version")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Experiment]:
        return super().get_queryset(request).select_related("control_run", "challenger_run")

    def save_model(self, request: HttpRequest, obj: Experiment, form: Any, change: bool) -> None:
        if not obj.active and obj.ended_at is None and change:
            obj.ended_at = timezone.now()
        elif obj.active:
            obj.ended_at = None  # running again
        super().save_model(request, obj, form, change)
        # This process sees the change at once; the others within RELOAD_INTERVAL.
        serving.expire()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        experiment = self.get_object(request, object_id)
        if experiment is not None:
            extra_context = {**(extra_context or {}), **experiment_comparison(experiment)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _conclude(self, request: HttpRequest, queryset: QuerySet[Experiment], winner: str) -> None:
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one experiment."), messages.ERROR)
            return
        try:
            run = experiments.experiment_conclude(
                experiment=queryset.get(), winner=winner, user=request.user
            )
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return
        self.message_user(
            request,
            _("Experiment ended: run #%(pk)s (%(algorithm)s) serves.")
            % {"pk": run.pk, "algorithm": run.algorithm},
        )

    def has_conclude_permission(self, request: HttpRequest) -> bool:
        """Ending an experiment changes the experiment and which run serves."""
        return request.user.has_perms(
            ["recommendations.change_experiment", "recommendations.change_trainingrun"]
        )

    @admin.action(
        description=gettext_lazy("Promote the challenger and end the experiment"),
        permissions=["conclude"],
    )
    def promote_challenger(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        self._conclude(request, queryset, experiments.CHALLENGER)

    @admin.action(
        description=gettext_lazy("Keep the control and end the experiment"),
        permissions=["conclude"],
    )
    def keep_control(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        self._conclude(request, queryset, experiments.CONTROL)


def experiment_comparison(experiment: Experiment) -> dict[str, Any]:
    """Control and challenger side by side: their runs and their click-through counts."""
    rows = {
        row.bucket: row
        for row in tracking.click_through_report(by=("bucket",), experiment=experiment)
    }
    return {
        "comparison": [
            (
                experiments.CONTROL,
                _("Control"),
                experiment.control_run or _("the active version"),
                rows.get(experiments.CONTROL),
            ),
            (
                experiments.CHALLENGER,
                _("Challenger"),
                experiment.challenger_run,
                rows.get(experiments.CHALLENGER),
            ),
        ],
        "conversion_days": app_settings.CONVERSION_DAYS,
    }


@admin.register(Impression)
class ImpressionAdmin(admin.ModelAdmin):
    list_display = ["token", "block", "run", "bucket", "created_at"]
    list_filter = ["block", "bucket"]
    date_hierarchy = "created_at"
    list_select_related = ["run"]
    # A record of what was shown: never edited by hand.
    readonly_fields = ["token", "block", "run", "experiment", "bucket", "user", "item_pks"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Click)
class ClickAdmin(admin.ModelAdmin):
    list_display = ["impression", "position", "item_pk", "created_at"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
