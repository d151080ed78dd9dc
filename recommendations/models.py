"""What Django must remember: training runs, the active version, item rules, the lock."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class TrainingRun(models.Model):
    """One algorithm trained once: its metrics, its artifact, and whether it serves."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    algorithm = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    # Runs started together (one per algorithm) share a batch and the same data.
    batch = models.CharField(max_length=32, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    is_active = models.BooleanField(
        default=False, help_text="The version that serves recommendations now."
    )
    metrics = models.JSONField(
        default=dict, blank=True, help_text="Holdout metrics; null when the holdout was empty."
    )
    n_users = models.PositiveIntegerField(default=0)
    n_items = models.PositiveIntegerField(default=0)
    n_events = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    artifact = models.CharField(
        max_length=255, blank=True, help_text="Name of the artifact in the artifact storage."
    )
    data_cutoff = models.DateTimeField(
        null=True, blank=True, help_text="Time of the newest event the run was trained on."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        get_latest_by = "created_at"
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=models.Q(is_active=True),
                name="recommendations_one_active_run",
            )
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} #{self.pk} ({self.status})"

    def metric(self, name: str) -> float | None:
        """One holdout metric, or None when it was not measured."""
        value = (self.metrics or {}).get(name)
        return None if value is None else float(value)


class ItemRule(models.Model):
    """A merchandiser's rule: pin an item into a block or exclude it from recommendations."""

    class Kind(models.TextChoices):
        PIN = "pin", "Pin"
        EXCLUDE = "exclude", "Exclude"

    class Block(models.TextChoices):
        ALL = "", "All blocks"
        FOR_YOU = "for_you", "For you"
        SIMILAR = "similar", "Similar items"
        BOUGHT_TOGETHER = "bought_together", "Bought together"
        TRENDING = "trending", "Trending"

    item_pk = models.CharField("item key", max_length=64, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    block = models.CharField(max_length=32, choices=Block.choices, blank=True, default="")
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Where a pinned item goes in the list (0 = first)."
    )
    note = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["block", "position", "pk"]
        indexes = [models.Index(fields=["active", "block"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.item_pk} in {self.get_block_display()}"


class TrainingLock(models.Model):
    """A row held while a training runs, so two workers never train at once."""

    name = models.CharField(max_length=64, primary_key=True)
    token = models.CharField(max_length=64)
    acquired_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} until {self.expires_at:%Y-%m-%d %H:%M}"
