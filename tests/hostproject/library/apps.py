from django.apps import AppConfig


class LibraryConfig(AppConfig):
    name = "tests.hostproject.library"
    label = "library"
    default_auto_field = "django.db.models.BigAutoField"
