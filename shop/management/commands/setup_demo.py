"""Prepare the demo store once: data, a staff account and a first trained model.

Every step checks whether it is already done, so a second run is quick and
changes nothing.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from recommendations.artifacts import artifact_storage
from recommendations.models import TrainingRun
from recommendations.services import training_run_promote, training_run_start
from shop.models import Order

DATA_FILE = Path(settings.BASE_DIR) / "data" / "online_retail" / "online_retail.csv.gz"
STAFF_USERNAME = "admin"


class Command(BaseCommand):
    help = "Import the Online Retail data, create a staff account and train once (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--data", default=str(DATA_FILE), help="CSV file to import.")
        parser.add_argument("--skip-training", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if Order.objects.exists():
            self.stdout.write("Data already imported.")
        else:
            self.stdout.write(f"Importing {options['data']} (once, a few minutes) ...")
            call_command("import_online_retail", options["data"])

        password = self._staff_password()

        active = TrainingRun.objects.filter(is_active=True).first()
        if options["skip_training"]:
            pass
        elif active is not None and artifact_storage().exists(active.artifact):
            self.stdout.write("A trained recommender is already active.")
        elif active is not None:
            # Before 0.2.0 model files were under MEDIA_ROOT; they are private now. The
            # new run must serve even if it scores no better than the lost one.
            self.stdout.write("The active recommender's model file is missing; training again ...")
            run = training_run_start(progress=self.stdout.write)
            if run.status == TrainingRun.Status.SUCCEEDED and not run.is_active:
                training_run_promote(run=run)
        else:
            self.stdout.write("Training the recommender once ...")
            call_command("train_recommendations")

        self.stdout.write(
            self.style.SUCCESS(
                "\nThe demo store is ready.\n"
                f"  Staff sign-in: http://127.0.0.1:8000/admin/  user {STAFF_USERNAME!r}"
                f"  password {password!r}\n"
                "  Shop as a real customer of the data set: http://127.0.0.1:8000/demo-login/"
                "  (e.g. customer number 17850)\n"
            )
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
