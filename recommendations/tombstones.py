"""Tombstones of deleted users: hidden from every artifact that loads, then erased from all.

Deleting an account records its key in :class:`~recommendations.models.ForgottenUser`.
Every artifact is stripped of these users when it is loaded to serve (the active
version, an experiment arm, the admin's preview, an old version promoted again), so
no artifact, however old, can bring a deleted user back. The stored files are then
rewritten without them too: at once for the serving runs
(:func:`recommendations.privacy.user_forget`), and for every other kept artifact by
:func:`forgotten_artifacts_rewrite`, retried until the storage lets it finish.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import fields
from typing import Any

from django.db import transaction
from django.utils import timezone

from recommendations.artifacts import (
    artifact_delete,
    artifact_read,
    artifact_without_users,
    artifact_write,
)
from recommendations.models import ForgottenUser, TrainingRun

logger = logging.getLogger(__name__)


def forgotten_user_pks(*, pending: bool = False) -> set[str]:
    """Keys (as strings) of the forgotten users, or of those some artifact may still hold."""
    tombstones = ForgottenUser.objects.all()
    if pending:
        tombstones = tombstones.filter(artifacts_pending=True)
    return set(tombstones.values_list("user_pk", flat=True))


def forgotten_user_record(*, user_pk: Any) -> ForgottenUser:
    """Record that a user is forgotten: from now on no loaded artifact knows them."""
    tombstone, _created = ForgottenUser.objects.update_or_create(
        user_pk=str(user_pk),
        defaults={"forgotten_at": timezone.now(), "artifacts_pending": True},
    )
    return tombstone


def run_artifact_forget(run: TrainingRun, user_pks: Collection[str]) -> str | None:
    """Write ``run``'s artifact without ``user_pks``; the new name, or None if none is in it.

    Raises ArtifactError or OSError when the storage cannot read or write it.
    """
    artifact = artifact_without_users(artifact_read(run.artifact), user_pks)
    if artifact is None:
        return None
    return artifact_write(
        run_id=run.pk, **{field.name: getattr(artifact, field.name) for field in fields(artifact)}
    )


def forgotten_artifacts_rewrite() -> list[TrainingRun]:
    """Erase the pending forgotten users from every stored artifact; the runs rewritten.

    Raises ArtifactError or OSError when the storage fails: the users stay pending
    (hidden on every load all the same) and the next call tries again.
    """
    pending = dict(
        ForgottenUser.objects.filter(artifacts_pending=True).values_list("pk", "user_pk")
    )
    if not pending:
        return []
    user_pks = set(pending.values())
    rewritten: list[TrainingRun] = []
    complete = True
    for run in TrainingRun.objects.exclude(artifact="").order_by("pk"):
        old = run.artifact
        new = run_artifact_forget(run, user_pks)
        if new is None:
            continue
        # Moved only if nobody changed the run meanwhile (pruned, or rewritten by a
        # deletion): otherwise the next call looks at what it holds now.
        if TrainingRun.objects.filter(pk=run.pk, artifact=old).update(artifact=new):
            transaction.on_commit(lambda old=old: artifact_delete(old))
            run.artifact = new
            rewritten.append(run)
        else:
            artifact_delete(new)
            complete = False
    if complete:
        ForgottenUser.objects.filter(pk__in=pending).update(artifacts_pending=False)
    logger.info(
        "Erased %d forgotten user(s) from %d stored artifact(s).", len(user_pks), len(rewritten)
    )
    return rewritten
