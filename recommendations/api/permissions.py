"""Who may call the staff routes of the API: whoever the admin lets see the same data."""

from __future__ import annotations

from django.contrib.auth import get_permission_codename
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from recommendations.models import TrainingRun


class CanViewTrainingRuns(BasePermission):
    """An active staff member allowed to view (or change) training runs.

    Exactly what the admin asks before its training run pages and its preview of a
    customer's recommendations (``TrainingRunAdmin.has_view_permission`` behind
    ``admin_site.has_permission``), so the API shows no one more than the admin does.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_active and user.is_staff):
            return False
        opts = TrainingRun._meta
        return any(
            user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
            for action in ("view", "change")
        )
