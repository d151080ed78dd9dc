"""A shop's own follow graph from CSV, into the model ``RECOMMENDATIONS["SOCIAL"]`` names.

One transaction, all or nothing; follows already there are left as they are, so a second
run changes nothing. Rows are written in bulk (no signal), so serving is told once that
follows changed, and each follower whose follows did leaves their cached lists behind.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from recommendations.adapters import get_adapter
from recommendations.conf import SocialRelation, app_settings
from recommendations.privacy import user_cache_delete
from recommendations.services import social_changed

COLUMNS = ("user", "followed")
BATCH_SIZE = 1000


class FollowsImportError(ValueError):
    """A follows file cannot be imported (``line`` 0: the setting, not a row); nothing
    was written."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"Line {line}: {message}" if line else message)
        self.line = line


@dataclass
class FollowsReport:
    """What an import wrote."""

    rows: int = 0
    created: int = 0
    existing: int = 0


def _relation() -> tuple[SocialRelation, type[models.Model], str, str]:
    """The configured relation, its model and the columns of its two user keys."""
    relation = app_settings.SOCIAL
    if relation is None:
        raise FollowsImportError(0, 'RECOMMENDATIONS["SOCIAL"] names no follow model.')
    model = apps.get_model(relation.model)
    columns = []
    user_model = get_user_model()
    for name in (relation.follower_field, relation.followed_field):
        field = model._meta.get_field(name) if "__" not in name else None
        if (
            field is None
            or field.related_model is not user_model
            or not field.many_to_one
            or field.target_field != user_model._meta.pk  # to_field: another column
        ):
            raise FollowsImportError(
                0,
                f"{relation.model}.{name} is not a foreign key to the user model: the "
                "importer writes only such follows (others load them their own way).",
            )
        columns.append(field.attname)
    return relation, model, columns[0], columns[1]


def _rows(lines: Iterable[str]) -> list[tuple[int, str, str]]:
    """The (line, user, followed) rows of the CSV; FollowsImportError on a bad one."""
    reader = csv.DictReader(lines)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise FollowsImportError(1, f"the header lacks the column(s) {', '.join(missing)}.")
    reader.fieldnames = header
    rows = []
    for record in reader:
        values = [(record.get(column) or "").strip() for column in COLUMNS]
        if None in record or not all(values):
            raise FollowsImportError(reader.line_num, "each row needs a user and a followed user.")
        rows.append((reader.line_num, values[0], values[1]))
    return rows


def follows_import(lines: Iterable[str]) -> FollowsReport:
    """Import a CSV with the columns ``user,followed`` (usernames, user ids, or the
    host's own references: the adapter's ``users_by_reference``), all or nothing.

    Raises FollowsImportError naming the line of the first bad row: a missing column,
    an empty or unknown user, or someone following themself.
    """
    _relation()  # a relation the importer cannot write is said before any row
    rows = _rows(lines)
    users = get_adapter().users_by_reference({value for _, *pair in rows for value in pair})
    pairs = []
    for line, user, other in rows:
        for value in (user, other):
            if value not in users:
                raise FollowsImportError(line, f"no user named or numbered {value!r}.")
        if users[user] == users[other]:
            raise FollowsImportError(line, f"{user!r} cannot follow themself.")
        pairs.append((users[user], users[other]))
    with transaction.atomic():
        return follows_create(pairs)


def follows_create(
    pairs: Iterable[tuple[Any, Any]], *, fields: dict[str, Any] | None = None
) -> FollowsReport:
    """Write the (follower key, followed key) pairs not related yet, in bulk, with
    ``fields`` on each new row; tell serving, and each follower who changed. Call it
    in a transaction: the news go out when it commits."""
    relation, model, follower, followed = _relation()
    pairs = list(pairs)
    people = {pk for pair in pairs for pk in pair}
    existing = set(
        model._default_manager.filter(**{f"{follower}__in": people}).values_list(
            follower, followed
        )
    )
    if relation.mutual:  # a friendship is one row, either way round
        existing |= {(b, a) for a, b in existing}
    new = []
    for pair in dict.fromkeys(pairs):
        if pair not in existing:
            new.append(pair)
            existing.add(pair)
            if relation.mutual:
                existing.add(pair[::-1])
    extra = dict(fields or {})
    if relation.time_field and "__" not in relation.time_field:
        time_field = model._meta.get_field(relation.time_field)
        if not time_field.has_default() and not getattr(time_field, "auto_now_add", False):
            extra.setdefault(time_field.attname, timezone.now())
    try:
        with transaction.atomic():
            model._default_manager.bulk_create(
                [model(**{follower: a, followed: b}, **extra) for a, b in new],
                batch_size=BATCH_SIZE,
            )
    except IntegrityError as exc:  # a required field the importer cannot fill
        raise FollowsImportError(0, f"{relation.model} refused the new rows: {exc}.") from exc
    if new:  # bulk_create sends no signal: told before the followers' caches go
        transaction.on_commit(social_changed)
    changed = {a for a, _ in new} | ({b for _, b in new} if relation.mutual else set())
    for user_pk in sorted(changed):
        transaction.on_commit(lambda pk=user_pk: user_cache_delete(user_pk=pk))
    return FollowsReport(rows=len(pairs), created=len(new), existing=len(pairs) - len(new))
