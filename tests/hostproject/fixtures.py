"""Fixtures of the library host's checks (a pytest plugin: ``-p tests.hostproject.fixtures``).

Loaded before pytest-django sets Django up, so the fixtures import models when they run.
"""

from __future__ import annotations

from typing import Any

import pytest

GENRES = ["crime", "poetry", "travel", "cooking"]


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    """Artifacts under ``tmp_path``, no model loaded before or after."""
    from recommendations import serving

    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ARTIFACT_ROOT": tmp_path / "var"}
    serving.reset()
    yield
    serving.reset()


@pytest.fixture
def books(db) -> dict[str, Any]:
    """Sixteen books in four genres; readers of Crime 0 also borrow Poetry 0."""
    from django.contrib.auth import get_user_model

    from tests.hostproject.library.models import Book, Loan

    books = {
        f"{genre}{i}": Book.objects.create(
            isbn=f"978{g}{i:09d}", title=f"{genre.title()} {i}", genre=genre
        )
        for g, genre in enumerate(GENRES)
        for i in range(4)
    }
    User = get_user_model()
    for i in range(4):
        reader = User.objects.create_user(f"pair{i}")
        Loan.objects.create(reader=reader, book=books["crime0"])
        Loan.objects.create(reader=reader, book=books["poetry0"])
    # Everyone borrows the first two books of a genre.
    for genre in GENRES:
        for i in range(2):
            reader = User.objects.create_user(f"{genre}-fan{i}")
            for rank in (0, 1):
                Loan.objects.create(reader=reader, book=books[f"{genre}{rank}"])
    return books
