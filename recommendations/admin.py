"""Staff screens: training runs (read-only, with promote/rollback/train actions) and item rules."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from recommendations.models import ItemRule, TrainingRun
from recommendations.services import (
    training_run_enqueue,
    training_run_promote,
    training_run_rollback,
)


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
        "is_active",
        "ndcg",
        "recall",
        "coverage",
        "n_users",
        "n_items",
        "n_events",
        "duration",
        "created_at",
        "promoted_at",
    ]
    list_filter = ["status", "is_active", "algorithm"]
    search_fields = ["algorithm", "batch", "error"]
    date_hierarchy = "created_at"
    actions = ["promote", "rollback", "train_now"]
    ndcg = _metric("ndcg", "NDCG@20")
    recall = _metric("recall", "Recall@20")
    coverage = _metric("coverage", "Coverage@20")

    @admin.display(description="Duration", ordering="duration_seconds")
    def duration(self, run: TrainingRun) -> str:
        return "—" if run.duration_seconds is None else f"{run.duration_seconds:.1f} s"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Runs are a record of what happened: only the actions change them.
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Promote the selected run (serve it now)", permissions=["change"])
    def promote(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one run to promote.", messages.ERROR)
            return
        try:
            run = training_run_promote(run=queryset.get(), user=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return
        self.message_user(request, f"Run #{run.pk} ({run.algorithm}) now serves.")

    @admin.action(description="Roll back to the previous version", permissions=["change"])
    def rollback(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        try:
            run = training_run_rollback(user=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return
        self.message_user(request, f"Rolled back: run #{run.pk} ({run.algorithm}) serves again.")

    @admin.action(description="Train now (in the background)", permissions=["change"])
    def train_now(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        training_run_enqueue(user=request.user)
        self.message_user(request, "Training queued; refresh this page to follow it.")

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
        return super().changelist_view(request, extra_context)


@admin.register(ItemRule)
class ItemRuleAdmin(admin.ModelAdmin):
    list_display = ["item_pk", "kind", "block", "position", "active", "note", "created_at"]
    list_filter = ["kind", "block", "active"]
    list_editable = ["position", "active"]
    search_fields = ["item_pk", "note"]
