"""Live A/B tests: which training run serves a user, and ending a test with a winner.

A staff-edited :class:`~recommendations.models.Experiment` names a challenger run and
the share of signed-in users it serves. A user's group comes from a stable hash of
(experiment id, user key): the same user always sees the same version, in every
process, without storing anything. Anonymous shoppers are not split and see the
control. Each process looks the active experiment up at most every
``RELOAD_INTERVAL`` seconds, like the active version in :mod:`recommendations.serving`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from recommendations import serving
from recommendations.models import Experiment, Impression, TrainingRun
from recommendations.services import training_run_promote
from recommendations.serving import ServingModel, active_experiment, active_model, run_model

CONTROL = Impression.CONTROL
CHALLENGER = Impression.CHALLENGER


def bucket_of(*, experiment_id: int, user_pk: Any, share: float) -> str:
    """The group of a user in an experiment: ``"challenger"`` for a ``share`` of users."""
    digest = hashlib.sha256(f"{experiment_id}:{user_pk}".encode()).digest()
    # The first 8 bytes of the hash, as a uniform fraction in [0, 1).
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return CHALLENGER if fraction < share else CONTROL


@dataclass(frozen=True)
class Assignment:
    """The experiment a shopper takes part in (or None) and their group in it."""

    experiment: Experiment | None
    bucket: str

    @property
    def run(self) -> TrainingRun | None:
        """The run of the shopper's group; None means the active version."""
        if self.experiment is None:
            return None
        if self.bucket == CHALLENGER:
            return self.experiment.challenger_run
        return self.experiment.control_run


NO_EXPERIMENT = Assignment(None, "")


def assignment_for(user: Any) -> Assignment:
    """The experiment and group of a shopper; anonymous shoppers are not split."""
    experiment = active_experiment()
    if experiment is None or not getattr(user, "is_authenticated", False):
        return NO_EXPERIMENT
    bucket = bucket_of(experiment_id=experiment.pk, user_pk=user.pk, share=experiment.share)
    return Assignment(experiment, bucket)


def model_for_user(user: Any) -> ServingModel | None:
    """The model that serves this shopper: their group's run, else the active version."""
    if active_experiment() is None:  # as nearly always: no group to work out
        return active_model()
    run = assignment_for(user).run
    if run is None:
        return active_model()
    # An arm that cannot load falls back to the active version rather than to nothing.
    return run_model(run) or active_model()


def experiment_validate(
    *, challenger_run: TrainingRun | None, control_run: TrainingRun | None
) -> None:
    """Raise ValidationError unless both arms are succeeded runs with an artifact."""
    errors = {}
    for field, run in (("challenger_run", challenger_run), ("control_run", control_run)):
        if run is not None and (run.status != TrainingRun.Status.SUCCEEDED or not run.artifact):
            errors[field] = _("Run #%(pk)s did not succeed; only succeeded runs can serve.") % {
                "pk": run.pk
            }
    if challenger_run is not None and control_run is not None and challenger_run == control_run:
        errors["challenger_run"] = _("The challenger must differ from the control.")
    elif challenger_run is not None and control_run is None and challenger_run.is_active:
        # The control is "whatever is active": both groups would get the same run.
        errors["challenger_run"] = _("The challenger must differ from the control.")
    if errors:
        raise ValidationError(errors)


def experiment_conclude(*, experiment: Experiment, winner: str, user: Any = None) -> TrainingRun:
    """End an experiment and serve the winning group's run; return that run."""
    if winner not in (CONTROL, CHALLENGER):
        raise ValidationError(
            _("The winner must be %(control)r or %(challenger)r.")
            % {"control": CONTROL, "challenger": CHALLENGER}
        )
    if not experiment.active:
        raise ValidationError(
            _("Experiment “%(name)s” is not running: there is nothing to conclude.")
            % {"name": experiment.name}
        )
    run = experiment.challenger_run if winner == CHALLENGER else experiment.control_run
    if run is None:
        # The control was "whatever is active": it already serves.
        run = TrainingRun.objects.filter(is_active=True).first()
        if run is None:
            raise ValidationError(_("No version is active; promote a run first."))
    with transaction.atomic():
        if not run.is_active:
            run = training_run_promote(run=run, user=user)
        experiment.active = False
        experiment.ended_at = timezone.now()
        experiment.save(update_fields=["active", "ended_at"])
    serving.expire()
    return run
