"""Prepare the demo store once: data, a staff account and a first trained model.

Every step checks whether it is already done, so a second run is quick and
changes nothing. The data's dates are moved so its last day is yesterday. The first
training is a fast one (seconds), so the store serves at once; every configured
algorithm is then trained in the background, and the best of them promoted if it beats
the first (follow it on the admin's training runs page).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from recommendations.artifacts import artifact_storage
from recommendations.background import TrainingQueueUnavailable, training_run_enqueue
from recommendations.conf import app_settings
from recommendations.models import TrainingRun
from recommendations.services import TrainingLocked, training_run_promote, training_run_start
from shop.follows import sample_social_graph_create
from shop.models import Follow, Order

DATA_FILE = Path(settings.BASE_DIR) / "data" / "online_retail" / "online_retail.csv.gz"
STAFF_USERNAME = "admin"
# Where bin/demo serves (it passes the same variable to runserver).
ADDRESS = os.environ.get("DEMO_ADDRESS", "127.0.0.1:8000")
# Trained before the server starts: seconds on the whole data set, and EASE is a strong
# first version; the slower configured algorithms follow in the background.
FIRST_ALGORITHMS = "popularity,item_knn,ease"


class Command(BaseCommand):
    help = "Import the Online Retail data, create a staff account and train once (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", default=str(DATA_FILE), help="CSV file to import.")
        parser.add_argument(
            "--keep-dates",
            action="store_true",
            help="Import the data's own dates (2010-2011) instead of moving its last day "
            "to yesterday.",
        )
        parser.add_argument("--skip-training", action="store_true")
        parser.add_argument(
            "--first-algorithms",
            default=FIRST_ALGORITHMS,
            help=f"Comma-separated algorithms trained before the server starts "
            f"(default {FIRST_ALGORITHMS}).",
        )
        parser.add_argument(
            "--sample-social-graph",
            action="store_true",
            help="Also create a SYNTHETIC follow graph (each customer follows up to 3 of "
            "similar taste), labelled as a sample, to try the social features. The data set "
            "has no social graph of its own.",
        )
        parser.add_argument(
            "--no-background-training",
            action="store_true",
            help="Do not train the other configured algorithms in the background.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if Order.objects.exists():
            self.stdout.write("Data already imported.")
        else:
            self.stdout.write(f"Importing {options['data']} (once, about a minute) ...")
            call_command(
                "import_online_retail",
                options["data"],
                shift_to_yesterday=not options["keep_dates"],
                stdout=self.stdout,
                stderr=self.stderr,
            )

        password = self._staff_password()
        if options["sample_social_graph"]:
            self._sample_social_graph()

        if not options["skip_training"]:
            self._train(
                options["first_algorithms"], background=not options["no_background_training"]
            )

        self.stdout.write(
            self.style.SUCCESS(
                "\nThe demo store is ready.\n"
                f"  Staff sign-in: http://{ADDRESS}/admin/  user {STAFF_USERNAME!r}"
                f"  password {password!r}\n"
                f"  Shop as a real customer of the data set: http://{ADDRESS}/demo-login/"
                "  (e.g. customer number 17850)\n"
            )
        )

    def _train(self, first: str, *, background: bool) -> None:
        """Train the first algorithms now if nothing serves; the missing others after."""
        active = TrainingRun.objects.filter(is_active=True).first()
        if active is not None and artifact_storage().exists(active.artifact):
            self.stdout.write("A trained recommender is already active.")
        elif active is not None:
            # Before 0.2.0 model files were under MEDIA_ROOT; they are private now. The
            # new run must serve even if it scores no better than the lost one.
            self.stdout.write("The active recommender's model file is missing; training again ...")
            run = training_run_start(algorithms=first.split(","), progress=self.stdout.write)
            if run.status == TrainingRun.Status.SUCCEEDED and not run.is_active:
                training_run_promote(run=run)
        else:
            self.stdout.write(f"Training a first recommender ({first}) ...")
            call_command("train_recommendations", algorithms=first, stdout=self.stdout)
        trained = set(
            TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED).values_list(
                "algorithm", flat=True
            )
        )
        missing = [name for name in app_settings.ALGORITHMS if name not in trained]
        if not background or not missing:
            return
        try:
            training_run_enqueue()
        except (TrainingLocked, TrainingQueueUnavailable) as exc:
            self.stdout.write(f"Not training the others in the background: {exc}")
            return
        self.stdout.write(
            f"Training every configured algorithm in the background (not yet trained: "
            f"{', '.join(missing)}); the best is promoted if it beats the one serving. "
            f"Follow it on http://{ADDRESS}/admin/recommendations/trainingrun/"
        )

    def _sample_social_graph(self) -> None:
        """The labelled synthetic follow graph, made once, before the training reads it."""
        if Follow.objects.filter(is_sample=True).exists():
            self.stdout.write("The sample social graph is already there.")
            return
        report = sample_social_graph_create()
        self.stdout.write(
            f"Created a SAMPLE social graph: {report.created} synthetic follows between "
            "customers of similar taste (Follow.is_sample), for trying the social features."
        )

    def _staff_password(self) -> str:
        """Create the staff account once; its password is kept in var/ for the next run."""
        secret_file = Path(settings.VAR_DIR) / "demo-admin-password.txt"
        user_model = get_user_model()
        if user_model.objects.filter(username=STAFF_USERNAME).exists() and secret_file.exists():
            return secret_file.read_text().strip()
        password = secrets.token_urlsafe(12)
        user, _ = user_model.objects.get_or_create(
            username=STAFF_USERNAME, defaults={"email": "admin@example.com"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(password + "\n")
        secret_file.chmod(0o600)
        return password
