"""What Django must remember: training runs, the active version, item rules, the lock,
live experiments, the impressions and clicks of the blocks, and request counters."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class TrainingRun(models.Model):
    """One algorithm trained once: its metrics, its artifact, and whether it serves."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    algorithm = models.CharField(_("algorithm"), max_length=64)
    params = models.JSONField(_("params"), default=dict, blank=True)
    # Runs started together (one per algorithm) share a batch and the same data.
    batch = models.CharField(_("batch"), max_length=32, blank=True, db_index=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    is_active = models.BooleanField(
        _("is active"), default=False, help_text=_("The version that serves recommendations now.")
    )
    metrics = models.JSONField(
        _("metrics"),
        default=dict,
        blank=True,
        help_text=_("Holdout metrics; null when the holdout was empty."),
    )
    n_users = models.PositiveIntegerField(_("n users"), default=0)
    n_items = models.PositiveIntegerField(_("n items"), default=0)
    n_events = models.PositiveIntegerField(_("n events"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duration_seconds = models.FloatField(_("duration seconds"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    artifact = models.CharField(
        _("artifact"),
        max_length=255,
        blank=True,
        help_text=_("Name of the artifact in the artifact storage."),
    )
    data_cutoff = models.DateTimeField(
        _("data cutoff"),
        null=True,
        blank=True,
        help_text=_("Time of the newest event the run was trained on."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        related_name="+",
    )
    promoted_at = models.DateTimeField(_("promoted at"), null=True, blank=True)
    promotion_note = models.TextField(
        _("promotion note"),
        blank=True,
        help_text=_("Why training promoted this run, or kept the active version."),
    )

    class Meta:
        verbose_name = _("training run")
        verbose_name_plural = _("training runs")
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
        return f"{self.algorithm} #{self.pk} ({str(self.get_status_display()).lower()})"

    def metric(self, name: str) -> float | None:
        """One holdout metric, or None when it was not measured."""
        value = (self.metrics or {}).get(name)
        return None if value is None else float(value)


class ItemRule(models.Model):
    """A merchandiser's rule: pin an item into a block or exclude it from recommendations."""

    class Kind(models.TextChoices):
        PIN = "pin", _("Pin")
        EXCLUDE = "exclude", _("Exclude")

    class Block(models.TextChoices):
        ALL = "", _("All blocks")
        FOR_YOU = "for_you", _("For you")
        SIMILAR = "similar", _("Similar items")
        BOUGHT_TOGETHER = "bought_together", _("Bought together")
        TRENDING = "trending", _("Trending")

    item_pk = models.CharField(_("item key"), max_length=64, db_index=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    block = models.CharField(
        _("block"), max_length=32, choices=Block.choices, blank=True, default=""
    )
    position = models.PositiveSmallIntegerField(
        _("position"), default=0, help_text=_("Where a pinned item goes in the list (0 = first).")
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("item rule")
        verbose_name_plural = _("item rules")
        ordering = ["block", "position", "pk"]
        indexes = [models.Index(fields=["active", "block"])]

    def __str__(self) -> str:
        return gettext("%(kind)s %(item)s in %(block)s") % {
            "kind": self.get_kind_display(),
            "item": self.item_pk,
            "block": self.get_block_display(),
        }


class TrainingLock(models.Model):
    """A row held while a training runs, so two workers never train at once.

    The training refreshes ``heartbeat_at`` while it runs; a lock whose heartbeat is
    older than ``TRAINING_LOCK_STALE_AFTER``, whose ``expires_at`` passed, or whose
    holder process is gone from this machine belongs to a dead training.
    """

    name = models.CharField(_("name"), max_length=64, primary_key=True)
    token = models.CharField(_("token"), max_length=64)
    acquired_at = models.DateTimeField(_("acquired at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    heartbeat_at = models.DateTimeField(_("heartbeat at"), default=timezone.now)
    holder = models.CharField(
        _("holder"),
        max_length=255,
        blank=True,
        help_text=_("Host and process id of the training."),
    )
    # Host, pid namespace and pid, to tell a dead holder on this machine at once.
    process = models.CharField(_("process"), max_length=255, blank=True, editable=False)
    # How far the training is, as it reports it, for staff to follow (the admin polls it).
    batch = models.CharField(_("batch"), max_length=32, blank=True)
    stage = models.CharField(
        _("stage"), max_length=255, blank=True, help_text=_("The training's last message.")
    )
    algorithm = models.CharField(
        _("algorithm"),
        max_length=64,
        blank=True,
        help_text=_("The algorithm being trained, if any."),
    )
    percent = models.PositiveSmallIntegerField(_("percent"), default=0)
    progress_at = models.DateTimeField(_("progress at"), null=True, blank=True)

    class Meta:
        verbose_name = _("training lock")
        verbose_name_plural = _("training locks")

    def __str__(self) -> str:
        return gettext("%(name)s held by %(holder)s since %(since)s") % {
            "name": self.name,
            "holder": self.holder or "?",
            "since": f"{self.acquired_at:%Y-%m-%d %H:%M}",
        }


class Experiment(models.Model):
    """A live A/B test: a share of the signed-in users is served by a challenger run."""

    name = models.CharField(_("name"), max_length=100)
    control_run = models.ForeignKey(
        TrainingRun,
        on_delete=models.PROTECT,
        verbose_name=_("control run"),
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Blank: whichever version is active serves the control group."),
    )
    challenger_run = models.ForeignKey(
        TrainingRun, on_delete=models.PROTECT, related_name="+", verbose_name=_("challenger run")
    )
    share = models.FloatField(
        _("share"),
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_("Fraction of the signed-in users served by the challenger (0 to 1)."),
    )
    active = models.BooleanField(
        _("active"), default=True, help_text=_("At most one experiment runs at a time.")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("experiment")
        verbose_name_plural = _("experiments")
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
        _("token"), max_length=16, primary_key=True, default=impression_token, editable=False
    )
    block = models.CharField(_("block"), max_length=32)
    run = models.ForeignKey(
        TrainingRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("run"),
    )
    experiment = models.ForeignKey(
        Experiment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("experiment"),
    )
    bucket = models.CharField(
        _("bucket"),
        max_length=16,
        blank=True,
        choices=[("", "-"), (CONTROL, _("Control")), (CHALLENGER, _("Challenger"))],
    )
    # Only a consenting user is remembered; deleting the account deletes the rows.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        verbose_name=_("user"),
        null=True,
        blank=True,
        related_name="+",
    )
    item_pks = models.JSONField(
        _("item pks"), default=list, help_text=_("Keys of the items shown, in order.")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("impression")
        verbose_name_plural = _("impressions")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["block", "run"])]

    def __str__(self) -> str:
        return f"{self.block} {self.token}"


class Click(models.Model):
    """A shopper followed an item of an impression."""

    impression = models.ForeignKey(
        Impression, on_delete=models.CASCADE, related_name="clicks", verbose_name=_("impression")
    )
    position = models.PositiveSmallIntegerField(_("position"))
    item_pk = models.CharField(_("item key"), max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        verbose_name=_("user"),
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("click")
        verbose_name_plural = _("clicks")
        ordering = ["-created_at"]
        # A click repeated or replayed counts once.
        constraints = [
            models.UniqueConstraint(
                fields=["impression", "position"], name="recommendations_click_once"
            ),
        ]

    def __str__(self) -> str:
        return gettext("click on %(item)s in %(impression)s") % {
            "item": self.item_pk,
            "impression": self.impression_id,
        }


class RateCounter(models.Model):
    """Requests of one client counted in one time window, the same for every process.

    Used by :mod:`recommendations.counters` when the cache cannot increment atomically.
    """

    key = models.CharField(_("key"), max_length=255, unique=True)
    window = models.BigIntegerField(
        _("window"), help_text=_("The window's number: its start // its length.")
    )
    count = models.PositiveIntegerField(_("count"), default=0)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("rate counter")
        verbose_name_plural = _("rate counters")

    def __str__(self) -> str:
        return gettext("%(key)s: %(count)s until %(until)s") % {
            "key": self.key,
            "count": self.count,
            "until": f"{self.expires_at:%Y-%m-%d %H:%M:%S}",
        }


class ForgottenUser(models.Model):
    """A deleted user's key (a tombstone): no artifact may serve them again.

    Every artifact loaded for serving is stripped of these users, so an old artifact
    kept for rollback cannot bring a deleted account back. ``artifacts_pending`` says
    that some stored artifact may still hold the user's row: it is rewritten later
    (after the next training, or by ``forgotten_artifacts_rewrite_task``).
    """

    user_pk = models.CharField(_("user key"), max_length=64, unique=True)
    forgotten_at = models.DateTimeField(_("forgotten at"), default=timezone.now)
    artifacts_pending = models.BooleanField(
        _("artifacts pending"),
        default=True,
        help_text=_("Some stored artifact may still hold the user's row."),
    )

    class Meta:
        verbose_name = _("forgotten user")
        verbose_name_plural = _("forgotten users")
        ordering = ["-forgotten_at", "-pk"]
        indexes = [
            models.Index(
                fields=["artifacts_pending"],
                condition=models.Q(artifacts_pending=True),
                name="recs_forgotten_pending",
            )
        ]

    def __str__(self) -> str:
        return gettext("user %(user)s forgotten %(when)s") % {
            "user": self.user_pk,
            "when": f"{self.forgotten_at:%Y-%m-%d %H:%M}",
        }
