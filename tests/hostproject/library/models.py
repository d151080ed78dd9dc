"""A lending library: a host project that has nothing in common with the shop."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Book(models.Model):
    isbn = models.CharField(max_length=13, unique=True)
    title = models.CharField(max_length=200)
    genre = models.CharField(max_length=40)
    is_available = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.title


class Loan(models.Model):
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="loans")
    borrowed_on = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.book} to {self.reader}"


class Follow(models.Model):
    """A reader follows another reader's shelf."""

    follower = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="following"
    )
    followed = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="followers"
    )
    weight = models.FloatField(default=1.0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.follower} follows {self.followed}"
