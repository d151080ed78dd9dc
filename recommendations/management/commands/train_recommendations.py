"""Train the recommenders now, from the shell."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommendations.availability import UNAVAILABLE_ERRORS, unavailable_message
from recommendations.models import TrainingRun
from recommendations.services import TrainingLocked, training_run_start
from recommendations.training import TrainingInterrupted


class Command(BaseCommand):
    help = "Train every configured algorithm, evaluate them and promote the best."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--algorithms",
            help="Comma-separated registry names to train instead of the configured ALGORITHMS.",
        )
        parser.add_argument(
            "--no-promote",
            action="store_true",
            help="Record and keep the runs, but leave the active version serving.",
        )
        parser.add_argument(
            "--user-id",
            type=int,
            help="Record this user (staff who asked for the training) as the runs' creator.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        algorithms = (
            [name.strip() for name in options["algorithms"].split(",") if name.strip()]
            if options["algorithms"]
            else None
        )
        promote = False if options["no_promote"] else None
        user = None
        if options["user_id"] is not None:
            user = get_user_model()._default_manager.filter(pk=options["user_id"]).first()
            if user is None:
                raise CommandError(f"--user-id: no user with id {options['user_id']}.")
        try:
            run = training_run_start(
                algorithms=algorithms,
                user=user,
                promote=promote,
                progress=self._progress,
            )
            batch = list(TrainingRun.objects.filter(batch=run.batch).order_by("pk"))
            active = TrainingRun.objects.filter(is_active=True).first()
        except (TrainingLocked, ValueError, ValidationError) as exc:
            raise CommandError(str(exc)) from exc
        except UNAVAILABLE_ERRORS as exc:
            raise CommandError(
                f"{unavailable_message(exc)}. Any run left running is marked failed by the "
                "next training."
            ) from exc
        except TrainingInterrupted as exc:
            raise CommandError(f"Training stopped: {exc}") from exc
        for item in batch:
            line = f"#{item.pk} {item.algorithm}: {item.status}"
            if item.status == TrainingRun.Status.FAILED:
                self.stderr.write(f"{line}: {item.error}")
            else:
                self.stdout.write(f"{line}{' (serving)' if item.is_active else ''}")
        self.stdout.write(
            f"Serving run #{active.pk} ({active.algorithm})."
            if active
            else "No version is serving."
        )
        failed = [item for item in batch if item.status != TrainingRun.Status.SUCCEEDED]
        if failed:
            raise CommandError(
                f"Training failed for {', '.join(item.algorithm for item in failed)}: "
                f"{failed[0].error or failed[0].status}"
            )
        self.stdout.write(self.style.SUCCESS("Training succeeded."))

    def _progress(self, message: str) -> None:
        # Flushed at once: the output may be a pipe or a file shared with a server.
        self.stdout.write(message)
        self.stdout.flush()
