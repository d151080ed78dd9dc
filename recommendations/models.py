"""What Django must remember: training runs, the active version, item rules, the lock,
live experiments, the impressions and clicks of the blocks, and request counters."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
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
    promotion_note = models.TextField(
        blank=True, help_text="Why training promoted this run, or kept the active version."
    )

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
    """A row held while a training runs, so two workers never train at once.

    The training refreshes ``heartbeat_at`` while it runs; a lock whose heartbeat is
    older than ``TRAINING_LOCK_STALE_AFTER``, whose ``expires_at`` passed, or whose
    holder process is gone from this machine belongs to a dead training.
    """

    name = models.CharField(max_length=64, primary_key=True)
    token = models.CharField(max_length=64)
    acquired_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(default=timezone.now)
    holder = models.CharField(
        max_length=255, blank=True, help_text="Host and process id of the training."
    )
    # Host, pid namespace and pid, to tell a dead holder on this machine at once.
    process = models.CharField(max_length=255, blank=True, editable=False)
    # How far the training is, as it reports it, for staff to follow (the admin polls it).
    batch = models.CharField(max_length=32, blank=True)
    stage = models.CharField(max_length=255, blank=True, help_text="The training's last message.")
    algorithm = models.CharField(
        max_length=64, blank=True, help_text="The algorithm being trained, if any."
    )
    percent = models.PositiveSmallIntegerField(default=0)
    progress_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or '?'} since {self.acquired_at:%Y-%m-%d %H:%M}"


class Experiment(models.Model):
    """A live A/B test: a share of the signed-in users is served by a challenger run."""

    name = models.CharField(max_length=100)
    control_run = models.ForeignKey(
        TrainingRun,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Blank: whichever version is active serves the control group.",
    )
    challenger_run = models.ForeignKey(TrainingRun, on_delete=models.PROTECT, related_name="+")
    share = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Fraction of the signed-in users served by the challenger (0 to 1).",
    )
    active = models.BooleanField(default=True, help_text="At most one experiment runs at a time.")
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["active"],
                condition=models.Q(active=True),
                name="recommendations_one_active_experiment",
            ),
            models.CheckConstraint(
                condition=models.Q(share__gte=0.0, share__lte=1.0),
                name="recommendations_experiment_share_0_1",
            ),
        ]

    def __str__(self) -> str:
        return self.name


def impression_token() -> str:
    """A short random id of an impression, safe in a URL."""
    return secrets.token_urlsafe(9)


class Impression(models.Model):
    """One rendered block: which items it showed, in order, and which version chose them."""

    CONTROL = "control"
    CHALLENGER = "challenger"

    token = models.CharField(
        max_length=16, primary_key=True, default=impression_token, editable=False
    )
    block = models.CharField(max_length=32)
    run = models.ForeignKey(
        TrainingRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    experiment = models.ForeignKey(
        Experiment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    bucket = models.CharField(
        max_length=16,
        blank=True,
        choices=[("", "-"), (CONTROL, "Control"), (CHALLENGER, "Challenger")],
    )
    # Only a consenting user is remembered; deleting the account deletes the rows.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    item_pks = models.JSONField(default=list, help_text="Keys of the items shown, in order.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["block", "run"])]

    def __str__(self) -> str:
        return f"{self.block} {self.token}"


class Click(models.Model):
    """A shopper followed an item of an impression."""

    impression = models.ForeignKey(Impression, on_delete=models.CASCADE, related_name="clicks")
    position = models.PositiveSmallIntegerField()
    item_pk = models.CharField("item key", max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"click on {self.item_pk} in {self.impression_id}"


class RateCounter(models.Model):
    """Requests of one client counted in one time window, the same for every process.

    Used by :mod:`recommendations.counters` when the cache cannot increment atomically.
    """

    key = models.CharField(max_length=255, unique=True)
    window = models.BigIntegerField(help_text="The window's number: its start // its length.")
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count} until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class ForgottenUser(models.Model):
    """A deleted user's key (a tombstone): no artifact may serve them again.

    Every artifact loaded for serving is stripped of these users, so an old artifact
    kept for rollback cannot bring a deleted account back. ``artifacts_pending`` says
    that some stored artifact may still hold the user's row: it is rewritten later
    (after the next training, or by ``forgotten_artifacts_rewrite_task``).
    """

    user_pk = models.CharField("user key", max_length=64, unique=True)
    forgotten_at = models.DateTimeField(default=timezone.now)
    artifacts_pending = models.BooleanField(
        default=True, help_text="Some stored artifact may still hold the user's row."
    )

    class Meta:
        ordering = ["-forgotten_at", "-pk"]
        indexes = [
            models.Index(
                fields=["artifacts_pending"],
                condition=models.Q(artifacts_pending=True),
                name="recs_forgotten_pending",
            )
        ]

    def __str__(self) -> str:
        return f"user {self.user_pk} forgotten {self.forgotten_at:%Y-%m-%d %H:%M}"
