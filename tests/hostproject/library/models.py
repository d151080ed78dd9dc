"""A lending library: a host project that has nothing in common with the shop."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Shelf(models.Model):
    """A themed shelf; a book stands on several (a many-to-many category)."""

    name = models.CharField(max_length=40)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name


class Publisher(models.Model):  # noqa: DJ008 - the point of it
    """A model without ``__str__``, as hosts have: its rows need a label field."""

    name = models.CharField(max_length=80)


class Book(models.Model):
    isbn = models.CharField(max_length=13, unique=True)
    title = models.CharField(max_length=200)
    genre = models.CharField(max_length=40)
    is_available = models.BooleanField(default=True)
    shelves = models.ManyToManyField(Shelf, related_name="books", blank=True)
    publisher = models.ForeignKey(
        Publisher, on_delete=models.SET_NULL, null=True, blank=True, related_name="books"
    )

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


class Copy(models.Model):
    """A copy of a book the library sells off: several per book, each with a price."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="copies")
    price = models.DecimalField(max_digits=8, decimal_places=2)
    condition = models.CharField(max_length=20, default="good")

    def __str__(self) -> str:
        return f"{self.book} ({self.condition})"
