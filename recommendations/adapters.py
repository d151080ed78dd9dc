"""How the host project's models become items, users and (user, item, time, weight) events.

The app never imports the host's models: it finds them by label from the
``RECOMMENDATIONS`` setting. A project with needs the setting cannot express subclasses
:class:`SettingsAdapter` and points ``RECOMMENDATIONS["ADAPTER"]`` at the subclass.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import (
    EmptyResultSet,
    FieldDoesNotExist,
    FieldError,
    FullResultSet,
    ValidationError,
)
from django.db import connections, models
from django.db.models import F, Value
from django.db.models.functions import Cast
from django.http import HttpRequest
from django.utils import timezone
from django.utils.module_loading import import_string

from recommendations.conf import PURCHASE, VIEW, EventSource, SocialRelation, app_settings
from recommendations.engine.hashing import hash_features
from recommendations.lookups import CatalogLookup, catalog_lookup, first_value

# Hashed feature spaces keep the same columns at training and serving time, however
# many countries or categories appear later.
USER_FEATURE_DIMENSIONS = 2**8
ITEM_ATTRIBUTE_DIMENSIONS = 2**10
ITEM_TEXT_DIMENSIONS = 2**14
CHUNK_SIZE = 20_000
# Keys per ``__in`` query: well below any database's limit on query parameters.
IN_CHUNK = 500
# The field that ties an anonymous view (a row of the ``ROLE`` "view" source) to its
# session: Django's name for the session key.
SESSION_FIELD = "session_key"
# The app's own list of views posted to the events API, in the session.
SESSION_VIEWS_KEY = "recommendations_viewed"
MAX_SESSION_ITEMS = 50
# What the adapter annotates on catalog rows when a CATALOG lookup has several values
# per item (a many-to-many, a reverse foreign key): the first one.
CATEGORY_ANNOTATION = "recommendations_category"
LABEL_ANNOTATION = "recommendations_label"
PRICE_ANNOTATION = "recommendations_price"
# The category row (or value) of such an item, set by ``display_items()``.
CATEGORY_OBJECT = "recommendations_category_row"


class Event(NamedTuple):
    """One event of a user's own history, for serving.

    A named tuple, not a frozen dataclass: a history builds hundreds per request, and a
    tuple is built three times as fast.
    """

    item_pk: Any
    source: str
    weight: float
    timestamp: dt.datetime


@dataclass(frozen=True)
class UserHistory:
    """A user's recent events and, when they were read in the same query, every item bought."""

    events: list[Event]
    # Keys (as strings) of every item of the purchase sources; None when not read.
    bought: frozenset[str] | None = None


@dataclass(frozen=True)
class UserNewest:
    """When a user's newest event happened (None: never) and whether they consent."""

    time: dt.datetime | None
    consents: bool


@dataclass(frozen=True)
class EventArrays:
    """Every training event as parallel arrays, one entry per event."""

    user_pk: np.ndarray
    item_pk: np.ndarray
    weight: np.ndarray  # float64; negative for dislikes (mapped low ratings)
    time: np.ndarray  # float64 unix seconds
    source: np.ndarray  # int8 index into ``sources``
    sources: tuple[str, ...]
    # int64 basket (order) of each event, numbered across sources; -1 where the source
    # has no GROUP_FIELD. None when no source has one.
    group: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.user_pk.size)


@dataclass(frozen=True)
class SocialEdges:
    """Every follow relation as parallel arrays, one entry per (follower, followed) pair.

    A mutual relation (``SOCIAL["MUTUAL"]``) comes as two pairs, one each way.
    """

    follower_pk: np.ndarray
    followed_pk: np.ndarray
    weight: np.ndarray  # float64, positive
    time: np.ndarray  # float64 unix seconds; NaN when the relation has no time

    def __len__(self) -> int:
        return int(self.follower_pk.size)


@dataclass(frozen=True)
class SocialEvent:
    """A followed user's purchase or positive rating, as social reasons may tell it."""

    user_pk: Any
    item_pk: Any
    source: str
    purchase: bool
    value: Any = None  # the raw value of a rating source ("5" stars), None for a purchase


def _places(value: Any, expression: models.Expression) -> Any:
    """A decimal read through an expression with its field's places: SQLite's converter
    rounds only plain columns ("20.5" for a price of 20.50 read by a subquery)."""
    field = getattr(expression, "output_field", None)
    places = getattr(field, "decimal_places", None)
    if not isinstance(value, Decimal) or not isinstance(places, int):
        return value
    return value.quantize(Decimal(1).scaleb(-places))


def _user_key(user_model: type[models.Model], reference: str) -> Any:
    """A user key as the user model's primary key types it; ValueError when out of the
    database's range for an integer key (a query with it would fail, not match)."""
    field = user_model._meta.pk
    key = field.to_python(reference)
    low, high = connections[user_model._default_manager.db].ops.integer_field_range(
        field.get_internal_type()
    )
    too_low = low is not None and isinstance(key, int) and key < low
    if too_low or (high is not None and isinstance(key, int) and key > high):
        raise ValueError(f"{reference!r} is out of the user key's range")
    return key


def user_has_active_flag() -> bool:
    """Whether the user model stores ``is_active`` (Django's ``AbstractUser`` does; a
    custom model may not, and ``AbstractBaseUser``'s is a constant True)."""
    try:
        field = get_user_model()._meta.get_field("is_active")
    except FieldDoesNotExist:
        return False
    return bool(field.concrete)


def _follow_rows(relation: SocialRelation) -> models.QuerySet:
    """Every row of the follow model that relates two users (both sides set)."""
    sides = (relation.follower_field, relation.followed_field)
    return apps.get_model(relation.model)._default_manager.filter(
        **{f"{side}__isnull": False for side in sides}
    )


def _key_array(values: list[Any]) -> np.ndarray:
    """Primary keys as int64 when they are integers, else as strings (never objects)."""
    try:
        return np.asarray(values, dtype=np.int64)
    except (TypeError, ValueError):
        return np.asarray([str(v) for v in values], dtype=str)


def _group_codes(keys: list[Any], *, offset: int) -> np.ndarray:
    """Each event's group key as a number from ``offset`` up (-1 for no group)."""
    codes = np.full(len(keys), -1, dtype=np.int64)
    known = [position for position, key in enumerate(keys) if key is not None]
    if known:
        _, inverse = np.unique(_key_array([keys[p] for p in known]), return_inverse=True)
        codes[known] = offset + inverse
    return codes


def _unix(times: Iterable[dt.datetime | float | None]) -> np.ndarray:
    return np.fromiter(
        (math.nan if t is None else t if isinstance(t, float) else t.timestamp() for t in times),
        dtype=np.float64,
    )


def _follow(item: Any, lookup: str | None) -> Any:
    """The value of ``lookup`` (``a__b``) read through the item's attributes, or None."""
    if not lookup:
        return None
    value = item
    for part in lookup.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


class UnixTime(models.Func):
    """A datetime column as float unix seconds, computed by the database.

    Parsing a million datetimes in Python takes longer than reading them; SQLite and
    PostgreSQL convert them for free. Other databases read datetimes (see ``supported``).
    """

    output_field = models.FloatField()
    arity = 1

    @staticmethod
    def supported(vendor: str) -> bool:
        """Whether the database of ``vendor`` can compute unix seconds."""
        return vendor in {"sqlite", "postgresql"}

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django stores aware datetimes in UTC text; julianday keeps the microseconds.
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # EXTRACT returns numeric (read as Decimal, slowly) unless cast.
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::double precision"
        )


@dataclass(frozen=True)
class CatalogShape:
    """What every list asks of the catalog, resolved once: see :attr:`SettingsAdapter.shape`."""

    model: type[models.Model]
    category: CatalogLookup | None
    label: CatalogLookup | None
    price: CatalogLookup | None
    category_expression: models.Expression | None
    label_expression: models.Expression | None
    price_expression: models.Expression | None
    # Forward relations the category, label and price lookups cross, for select_related.
    related: tuple[str, ...]


class SettingsAdapter:
    """Reads the host's models as described by ``settings.RECOMMENDATIONS``.

    One instance serves a process for one value of the setting (:func:`get_adapter`):
    what it resolves about the catalog is kept on it (:attr:`shape`).
    """

    #: Turns the items' texts into feature columns, ``(documents, n_features) -> CSR``;
    #: a dotted path imported at training, so serving never imports scikit-learn.
    text_features = "recommendations.engine.text.hashed_tfidf"

    # -- catalog -------------------------------------------------------------------

    @cached_property
    def shape(self) -> CatalogShape:
        """The catalog model, lookups and expressions, asked of this adapter once.

        Built from :meth:`catalog_model`, :meth:`catalog_lookup` and the ``*_expression``
        methods, so a subclass overrides those; their answers must not change while
        the setting stays the same (they are asked once per process and setting).
        """
        lookups = [
            self.catalog_lookup(lookup)
            for lookup in (
                app_settings.CATEGORY_FIELD,
                app_settings.LABEL_FIELD,
                app_settings.PRICE_FIELD,
            )
        ]
        return CatalogShape(
            model=self.catalog_model(),
            category=lookups[0],
            label=lookups[1],
            price=lookups[2],
            category_expression=self.category_expression(),
            label_expression=self.label_expression(),
            price_expression=self.price_expression(),
            related=tuple(
                lookup.related_path for lookup in lookups if lookup and lookup.related_path
            ),
        )

    def catalog_model(self) -> type[models.Model]:
        """The item model (``CATALOG["MODEL"]``)."""
        return apps.get_model(app_settings.CATALOG_MODEL)

    def catalog_lookup(self, lookup: str | None) -> CatalogLookup | None:
        """``lookup`` resolved on the catalog model; None when unset or wrong (see checks)."""
        if not lookup:
            return None
        try:
            return catalog_lookup(self.catalog_model(), lookup)
        except FieldDoesNotExist:
            return None

    def _first_value(self, lookup: str | None, order: Sequence[str]) -> models.Expression | None:
        resolved = self.catalog_lookup(lookup)
        if resolved is None or not resolved.many:
            return None
        return first_value(self.catalog_model(), resolved, order)

    def category_expression(self) -> models.Expression | None:
        """The category key of the outer item, when ``CATEGORY_FIELD`` cannot be read as a
        column: the first of its categories by ``CATEGORY_ORDER``. None otherwise."""
        return self._first_value(app_settings.CATEGORY_FIELD, app_settings.CATEGORY_ORDER)

    def price_expression(self) -> models.Expression | None:
        """The price of the outer item when an item has several (the lowest, unless
        ``PRICE_ORDER`` says otherwise); None when the price is read from the item."""
        return self._first_value(app_settings.PRICE_FIELD, app_settings.PRICE_ORDER)

    def label_expression(self) -> models.Expression | None:
        """The label of the outer item when an item has several (by ``LABEL_ORDER``);
        None when the label is read from the item."""
        return self._first_value(app_settings.LABEL_FIELD, app_settings.LABEL_ORDER)

    def _annotated(self, queryset: models.QuerySet, **expressions: Any) -> models.QuerySet:
        expressions = {name: e for name, e in expressions.items() if e is not None}
        return queryset.annotate(**expressions) if expressions else queryset

    def available_items(self) -> models.QuerySet:
        """Items that may be shown to shoppers (``CATALOG["AVAILABLE"]``).

        A category read through a relation with several rows per item is annotated
        (``CATEGORY_ANNOTATION``), so rules and filters read one category per item.
        """
        shape = self.shape
        queryset = shape.model._default_manager.filter(**app_settings.CATALOG_AVAILABLE)
        return self._annotated(queryset, **{CATEGORY_ANNOTATION: shape.category_expression})

    def available_item_pks(self) -> set[Any]:
        """Primary keys of the items that may be shown."""
        return set(self.available_items().values_list("pk", flat=True))

    def category_lookup(self) -> str | None:
        """The lookup of an item's category key in querysets of ``available_items()``."""
        if self.shape.category_expression is not None:
            return CATEGORY_ANNOTATION
        return app_settings.CATEGORY_FIELD

    def category_key_field(self) -> models.Field | None:
        """The field that holds category keys, where ``CATEGORY_FIELD`` ends; None if unset."""
        category = self.shape.category
        return None if category is None else category.key_field

    def item_category_key(self, item: models.Model) -> str | None:
        """The category of one item as a string key, or None."""
        lookup = app_settings.CATEGORY_FIELD
        if not lookup:
            return None
        if hasattr(item, CATEGORY_ANNOTATION):
            value = getattr(item, CATEGORY_ANNOTATION)
            return None if value is None else str(value)
        if "__" not in lookup and self.shape.category_expression is None:
            # A plain field or foreign key: read the column, no query.
            field = item._meta.get_field(lookup)
            value = getattr(item, field.attname)
            return None if value is None else str(value)
        return self.category_values([item.pk]).get(item.pk)

    def category_values(self, items: Iterable[Any]) -> dict[Any, str | None]:
        """Category key of each item (instances or primary keys), by primary key."""
        pks = [getattr(item, "pk", item) for item in items]
        lookup = app_settings.CATEGORY_FIELD
        if not lookup:
            return dict.fromkeys(pks)
        expression = self.shape.category_expression
        queryset = self.shape.model._default_manager.filter(pk__in=pks)
        if expression is not None:
            queryset, lookup = (
                queryset.annotate(**{CATEGORY_ANNOTATION: expression}),
                CATEGORY_ANNOTATION,
            )
        rows = queryset.values_list("pk", lookup)
        return {pk: None if value is None else str(value) for pk, value in rows}

    def display_items(self, pks: Iterable[Any]) -> dict[Any, models.Model]:
        """Catalog instances by key, with what labels, reasons and prices read.

        One query, with the relations of single-valued lookups selected and the first
        of many-valued ones annotated, plus one for the rows of categories read through
        such a relation (their labels).
        """
        shape = self.shape
        queryset = self._annotated(
            shape.model._default_manager.select_related(*shape.related),
            **{
                CATEGORY_ANNOTATION: shape.category_expression,
                LABEL_ANNOTATION: shape.label_expression,
                PRICE_ANNOTATION: shape.price_expression,
            },
        )
        items = queryset.in_bulk(list(pks))
        category = shape.category
        if category is not None and category.target is not None:
            annotated = [item for item in items.values() if hasattr(item, CATEGORY_ANNOTATION)]
            keys = {getattr(item, CATEGORY_ANNOTATION) for item in annotated} - {None}
            rows = category.target._base_manager.in_bulk(list(keys)) if keys else {}
            for item in annotated:
                setattr(item, CATEGORY_OBJECT, rows.get(getattr(item, CATEGORY_ANNOTATION)))
        return items

    def _item_value(self, item: models.Model, name: str, expression: models.Expression) -> Any:
        """The annotation ``name`` of an item loaded without it: one query."""
        if hasattr(item, name):
            return getattr(item, name)
        return (
            self.shape.model._default_manager.filter(pk=item.pk)
            .annotate(**{name: expression})
            .values_list(name, flat=True)
            .first()
        )

    def item_label(self, item: models.Model) -> str:
        """A display name of the item (``LABEL_FIELD``, else ``str(item)``)."""
        expression = self.shape.label_expression
        if expression is not None:
            value = self._item_value(item, LABEL_ANNOTATION, expression)
        else:
            value = _follow(item, app_settings.LABEL_FIELD)
        return str(item if value is None else value)

    def category_label(self, item: models.Model) -> str | None:
        """The display name of an item's category: ``CATEGORY_LABEL_FIELD`` of the category
        row, else its ``str()``; a plain value as text. No query for items of
        ``display_items()``. A list asks it once per category: the label is the
        category's, the same for every item in it."""
        lookup = app_settings.CATEGORY_FIELD
        if not lookup:
            return None
        shape = self.shape
        if shape.category_expression is None:
            value = _follow(item, lookup)
        elif hasattr(item, CATEGORY_OBJECT):
            value = getattr(item, CATEGORY_OBJECT)
        else:
            value = self.item_category_key(item)
            category = shape.category
            if value is not None and category is not None and category.target is not None:
                value = category.target._base_manager.filter(pk=value).first()
        if isinstance(value, models.Model) and app_settings.CATEGORY_LABEL_FIELD:
            value = _follow(value, app_settings.CATEGORY_LABEL_FIELD)
        text = "" if value is None else str(value)
        return text or None

    def item_price(self, item: models.Model) -> Any:
        """The item's price (``CATALOG["PRICE_FIELD"]``), or None.

        With several prices per item, the first by ``PRICE_ORDER`` (default: the lowest).
        """
        expression = self.shape.price_expression
        if expression is not None:
            return _places(self._item_value(item, PRICE_ANNOTATION, expression), expression)
        value = _follow(item, app_settings.PRICE_FIELD)
        return None if isinstance(value, models.Model) else value

    # -- users and consent -------------------------------------------------------------

    def user_consents(self, user: Any) -> bool:
        """Whether this user's history may personalise the store (False for anonymous)."""
        if user is None or not getattr(user, "is_authenticated", False):
            return False
        return self._consents(user.pk)

    def users_named(self, query: str) -> models.QuerySet:
        """Users a staff member may mean by ``query`` besides username, e-mail and id.

        None by default; a host with its own customer numbers returns the user that
        carries that number (the admin's preview looks customers up through it).
        """
        return get_user_model()._default_manager.none()

    def users_by_reference(self, references: set[str]) -> dict[str, Any]:
        """User keys by exact reference, as a file of users names them (the follows
        importer): a username first, then a user id. A host with its own numbers for
        users adds them here (the demo: customer numbers), in one query, not per row.
        """
        user_model = get_user_model()
        users = user_model._default_manager
        username = user_model.USERNAME_FIELD
        found = dict(users.filter(**{f"{username}__in": references}).values_list(username, "pk"))
        ids = {}
        for reference in references - found.keys():
            try:
                ids[reference] = _user_key(user_model, reference)
            except (ValidationError, ValueError, OverflowError):
                continue  # not a key of this user model (a text, an out-of-range number)
        known = {
            str(pk): pk for pk in users.filter(pk__in=ids.values()).values_list("pk", flat=True)
        }
        found.update(
            {reference: known[str(key)] for reference, key in ids.items() if str(key) in known}
        )
        return found

    def consenting_user_ids(self) -> set[Any] | None:
        """Primary keys of the users who consent, or None when everyone does."""
        lookup = app_settings.CONSENT_FIELD
        if not lookup:
            return None
        return set(
            get_user_model()._default_manager.filter(**{lookup: True}).values_list("pk", flat=True)
        )

    def consenting_among(self, user_pks: Iterable[Any]) -> list[Any]:
        """Those of ``user_pks`` who consent to personalisation (all without
        ``CONSENT_FIELD``): one query."""
        pks, lookup = list(user_pks), app_settings.CONSENT_FIELD
        if not lookup or not pks:
            return pks
        return list(
            get_user_model()
            ._default_manager.filter(pk__in=pks, **{lookup: True})
            .values_list("pk", flat=True)
        )

    # -- events ---------------------------------------------------------------------------

    def _source_queryset(self, source: EventSource) -> models.QuerySet:
        model = apps.get_model(source.model)
        return model._default_manager.filter(**source.filter).filter(
            **{f"{source.user_field}__isnull": False, f"{source.item_field}__isnull": False}
        )

    def _source_weights(self, source: EventSource, values: list[Any] | None, n: int) -> np.ndarray:
        base = float(source.weight)
        if values is None:
            return np.full(n, base, dtype=np.float64)
        if source.value_map is not None:
            # Values missing from the map carry no signal (NaN, dropped by the caller).
            mapping = source.value_map
            return np.fromiter(
                (base * float(mapping[str(v)]) if str(v) in mapping else math.nan for v in values),
                dtype=np.float64,
                count=n,
            )
        return base * np.fromiter(
            (math.nan if v is None else float(v) for v in values), dtype=np.float64, count=n
        )

    def training_events(self, *, since: dt.datetime | None = None) -> EventArrays:
        """Every event of every source of consenting users (from ``since``), as numpy arrays."""
        sources = app_settings.EVENT_SOURCES
        consenting = self.consenting_user_ids()
        parts: list[tuple[list[Any], list[Any], np.ndarray, np.ndarray, int]] = []
        groups: list[np.ndarray] = []
        next_group = 0
        for code, source in enumerate(sources):
            queryset = self._source_queryset(source)
            if since is not None:
                queryset = queryset.filter(**{f"{source.time_field}__gte": since})
            time_field = source.time_field
            vendor = connections[queryset.db].vendor
            if UnixTime.supported(vendor):
                queryset = queryset.annotate(_unix_time=UnixTime(time_field))
                time_field = "_unix_time"
            fields = [source.user_field, source.item_field, time_field]
            if source.value_field:
                fields.append(source.value_field)
            if source.group_field:
                fields.append(source.group_field)
            rows = list(queryset.values_list(*fields).order_by().iterator(chunk_size=CHUNK_SIZE))
            columns = list(zip(*rows, strict=True)) if rows else [[] for _ in fields]
            del rows
            weights = self._source_weights(
                source, list(columns[3]) if source.value_field else None, len(columns[0])
            )
            parts.append((list(columns[0]), list(columns[1]), weights, _unix(columns[2]), code))
            group = np.full(len(columns[0]), -1, dtype=np.int64)
            if source.group_field:
                # Numbered after the groups of earlier sources: no two sources share one.
                group = _group_codes(list(columns[-1]), offset=next_group)
                next_group = int(group.max(initial=next_group - 1)) + 1
            groups.append(group)
        user_pk = _key_array([pk for part in parts for pk in part[0]])
        item_pk = _key_array([pk for part in parts for pk in part[1]])
        weight = np.concatenate([part[2] for part in parts])
        time = np.concatenate([part[3] for part in parts])
        source = np.concatenate([np.full(len(part[0]), part[4], dtype=np.int8) for part in parts])
        keep = np.isfinite(weight) & np.isfinite(time) & (weight != 0)
        if consenting is not None:
            keep &= np.isin(user_pk, _key_array(sorted(consenting, key=str)))
        return EventArrays(
            user_pk=user_pk[keep],
            item_pk=item_pk[keep],
            weight=weight[keep],
            time=time[keep],
            source=source[keep],
            sources=tuple(s.name for s in sources),
            group=np.concatenate(groups)[keep] if any(s.group_field for s in sources) else None,
        )

    def _consents(self, user_pk: Any) -> bool:
        consent = _consent_queryset(user_pk)
        return consent is None or consent.exists()

    def user_events(self, user_pk: Any, *, limit: int = 200) -> list[Event]:
        """The user's own recent events: the newest ``limit`` of each source, newest first.

        Each source has its own window, so a burst of page views never pushes the
        shopper's purchases out of the history. Empty without consent.
        """
        return self._history(user_pk, limit).events

    def user_history(self, user_pk: Any, *, limit: int = 200) -> UserHistory:
        """:meth:`user_events`, and every item the user bought when read with them.

        One query of every source, the consent and the items bought, where the user key
        and the sources allow it. A subclass that overrides :meth:`user_events` is read
        through it (the items bought are then read apart, by :meth:`user_bought`).
        """
        if self._events_overridden:
            return UserHistory(self.user_events(user_pk, limit=limit))
        return self._history(user_pk, limit)

    def user_newest(self, user_pk: Any) -> UserNewest | None:
        """When the user's newest event happened and whether they consent, in one query.

        None when this adapter cannot tell without reading the whole history (a
        subclass overriding :meth:`user_events`, sources that cannot share a query).
        """
        if self._events_overridden:
            return None
        statement = self._statement(1, bought=False)
        if statement is None:
            return None
        read = statement.read(user_pk, len(app_settings.EVENT_SOURCES))
        newest = None
        for rows in read.rows:  # each source's newest row first
            if rows and rows[0][1] is not None and (newest is None or rows[0][1] > newest):
                newest = rows[0][1]
        return UserNewest(newest, read.consents)

    @cached_property
    def _statements(self) -> dict[tuple[int, bool], HistoryStatement | None]:
        return {}

    def history_prepare(self, *, limit: int) -> None:
        """Compile now the statements of :meth:`user_newest` and of :meth:`user_history`
        with ``limit`` rows, which the first of them would compile (once per adapter)."""
        if not self._events_overridden:
            self._statement(1, bought=False)
            self._statement(limit)

    def _statement(self, limit: int, *, bought: bool = True) -> HistoryStatement | None:
        """The history statement for ``limit`` rows per source, compiled once per adapter."""
        key = (limit, bought)
        statements = self._statements
        if key not in statements:
            statements[key] = _history_statement(self, limit, bought)
        return statements[key]

    @cached_property
    def _events_overridden(self) -> bool:
        """Whether a subclass reads the events its own way (then only through it)."""
        return type(self).user_events is not SettingsAdapter.user_events

    def _history(self, user_pk: Any, limit: int) -> UserHistory:
        sources = app_settings.EVENT_SOURCES
        statement = self._statement(limit)
        bought = None
        if statement is None:
            if not self._consents(user_pk):
                return UserHistory([], frozenset())
            rows_by_source = [self._source_rows(source, user_pk, limit) for source in sources]
        else:
            read = statement.read(user_pk, len(sources))
            if not read.consents:
                return UserHistory([], frozenset())
            rows_by_source, bought = read.rows, read.bought
        events: list[Event] = []
        for source, rows in zip(sources, rows_by_source, strict=True):
            if not rows:
                continue
            weights = self._source_weights(
                source, [row[2] for row in rows] if source.value_field else None, len(rows)
            )
            events.extend(
                [
                    Event(item_pk=row[0], source=source.name, weight=float(w), timestamp=row[1])
                    for row, w in zip(rows, weights, strict=True)
                    if math.isfinite(w) and w != 0
                ]
            )
        events.sort(key=attrgetter("timestamp"), reverse=True)
        return UserHistory(events, bought)

    def _source_history(
        self,
        source: EventSource,
        user_pk: Any,
        limit: int,
        *,
        null: models.Field | None = None,
    ) -> models.QuerySet:
        """The newest ``limit`` (item, time, value or NULL) rows of one source for a user.

        ``null`` types the NULL of a source without values (a database unites columns of
        one type only).
        """
        value: Any = F(source.value_field)
        if not source.value_field:
            value = Cast(Value(None), output_field=null or models.FloatField())
        return (
            self._source_queryset(source)
            .filter(**{source.user_field: user_pk})
            .annotate(_event_value=value)
            .order_by(f"-{source.time_field}")
            .values_list(source.item_field, source.time_field, "_event_value")[:limit]
        )

    def _source_bought(
        self, source: EventSource, user_pk: Any, *, null_time: models.Field, null: models.Field
    ) -> models.QuerySet:
        """Every item of one source for a user, once each, shaped like :meth:`_source_history`."""
        return (
            self._source_queryset(source)
            .filter(**{source.user_field: user_pk})
            .annotate(
                _event_time=Cast(Value(None), output_field=null_time),
                _event_value=Cast(Value(None), output_field=null),
            )
            .order_by()
            .values_list(source.item_field, "_event_time", "_event_value")
            .distinct()
        )

    def _source_rows(self, source: EventSource, user_pk: Any, limit: int) -> list[tuple]:
        return list(self._source_history(source, user_pk, limit))

    def users_with_purchase(self, user_pks: Iterable[Any]) -> set[Any]:
        """The keys among ``user_pks`` of the users with an event of a purchase source."""
        pks = list(user_pks)
        buyers: set[Any] = set()
        for source in app_settings.EVENT_SOURCES:
            if source.role != PURCHASE or not pks:
                continue
            for start in range(0, len(pks), IN_CHUNK):
                buyers.update(
                    self._source_queryset(source)
                    .filter(**{f"{source.user_field}__in": pks[start : start + IN_CHUNK]})
                    .order_by()
                    .values_list(source.user_field, flat=True)
                    .distinct()
                )
        return buyers

    def user_bought(self, user_pk: Any) -> set[str]:
        """Keys (as strings) of every item the user ever bought, from the sources whose
        ``ROLE`` is ``"purchase"``: never recommended again. Empty without consent."""
        names = set(app_settings.source_names(PURCHASE))
        if not names or not self._consents(user_pk):
            return set()
        bought: set[str] = set()
        for source in app_settings.EVENT_SOURCES:
            if source.name in names:
                items = (
                    self._source_queryset(source)
                    .filter(**{source.user_field: user_pk})
                    .order_by()
                    .values_list(source.item_field, flat=True)
                    .distinct()
                )
                bought.update(str(pk) for pk in items)
        return bought

    # -- who follows whom ------------------------------------------------------------------

    def social_queryset(self, relation: SocialRelation) -> models.QuerySet:
        """The rows of the follow model that count: between two active accounts when the
        user model has ``is_active`` (override to keep accepted ones only)."""
        rows = _follow_rows(relation)
        if user_has_active_flag():
            # A deactivated account (a fake one, a closed one) neither counts in nor is
            # told of in anybody's social signal while it stays so.
            sides = (relation.follower_field, relation.followed_field)
            rows = rows.filter(**{f"{side}__is_active": True for side in sides})
        return rows

    def social_edges(self) -> SocialEdges | None:
        """Every follow relation of ``SOCIAL`` as arrays; None (and no query) when unset.

        Relations without a positive, finite weight and users following themselves are
        left out.
        """
        relation = app_settings.SOCIAL
        if relation is None:
            return None
        queryset = self.social_queryset(relation)
        fields = [relation.follower_field, relation.followed_field]
        if relation.time_field:
            time_field = relation.time_field
            if UnixTime.supported(connections[queryset.db].vendor):
                queryset = queryset.annotate(_unix_time=UnixTime(time_field))
                time_field = "_unix_time"
            fields.append(time_field)
        if relation.weight_field:
            fields.append(relation.weight_field)
        rows = list(queryset.values_list(*fields).order_by().iterator(chunk_size=CHUNK_SIZE))
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in fields]
        n = len(columns[0])
        times = _unix(columns[2]) if relation.time_field else np.full(n, math.nan)
        weights = np.ones(n, dtype=np.float64)
        if relation.weight_field:
            weights = np.fromiter(
                (math.nan if v is None else float(v) for v in columns[-1]), np.float64, count=n
            )
        follower, followed = _key_array(list(columns[0])), _key_array(list(columns[1]))
        keep = np.isfinite(weights) & (weights > 0) & (follower != followed)
        follower, followed, weights, times = (
            follower[keep],
            followed[keep],
            weights[keep],
            times[keep],
        )
        if relation.mutual:
            follower, followed = (
                np.concatenate([follower, followed]),
                np.concatenate([followed, follower]),
            )
            weights, times = np.tile(weights, 2), np.tile(times, 2)
        return SocialEdges(follower_pk=follower, followed_pk=followed, weight=weights, time=times)

    def _social_links(
        self, relation: SocialRelation, user_pk: Any, *, outgoing: bool
    ) -> list[Any]:
        """Keys of the users ``user_pk`` follows (``outgoing``) or is followed by, newest
        first when the relation is dated; both ways for a mutual relation. Followers are
        read whether either side is active: their lists must forget a deactivated one."""
        queryset = self.social_queryset(relation) if outgoing else _follow_rows(relation)
        if relation.weight_field:
            queryset = queryset.filter(**{f"{relation.weight_field}__gt": 0})
        order = [f"-{relation.time_field}"] if relation.time_field else []
        ways = [(relation.follower_field, relation.followed_field)]
        if relation.mutual:
            ways.append((relation.followed_field, relation.follower_field))
        pks: list[Any] = []
        for mine, theirs in ways:
            if not outgoing:
                mine, theirs = theirs, mine
            pks += (
                queryset.filter(**{mine: user_pk}).order_by(*order).values_list(theirs, flat=True)
            )
        return [pk for pk in dict.fromkeys(pks) if pk != user_pk]

    def social_followers(self) -> list[Any]:
        """Keys of every user who follows anyone now (both sides of a mutual relation)."""
        relation = app_settings.SOCIAL
        if relation is None:
            return []
        queryset = self.social_queryset(relation)
        if relation.weight_field:
            queryset = queryset.filter(**{f"{relation.weight_field}__gt": 0})
        fields = [relation.follower_field]
        if relation.mutual:
            fields.append(relation.followed_field)
        pks: set[Any] = set()
        for name in fields:
            pks.update(queryset.order_by().values_list(name, flat=True).distinct())
        return list(pks)

    def user_followed(self, user_pk: Any) -> list[Any]:
        """Keys of the users ``user_pk`` follows now (empty, and no query, without SOCIAL).

        Serving reads it at request time, so a follow made after the last training
        counts at once.
        """
        relation = app_settings.SOCIAL
        return [] if relation is None else self._social_links(relation, user_pk, outgoing=True)

    def user_followers(self, user_pk: Any) -> list[Any]:
        """Keys of the users following ``user_pk`` (whose lists may name or count them),
        active or not: every follow row with both sides, whatever :meth:`social_queryset`
        keeps (serving only bumps these users' cached lists, so more is harmless)."""
        relation = app_settings.SOCIAL
        return [] if relation is None else self._social_links(relation, user_pk, outgoing=False)

    def social_circle(self, user_pk: Any, *, limit: int) -> tuple[list[Any], dict[Any, str]]:
        """Whom ``user_pk`` follows now (:meth:`user_followed`, at most ``limit``) and the
        names of those who share (:meth:`social_names`): one compiled statement when the
        relation is one-way and neither method is overridden."""
        statement = None if self._circle_overridden else self._circle_statement(limit)
        if statement is None:
            followed = self.user_followed(user_pk)[:limit]
            return followed, self.social_names(followed) if followed else {}
        return statement.read(user_pk, limit)

    @cached_property
    def _circle_overridden(self) -> bool:
        """Whether a subclass reads follows or names its own way (then only through it)."""
        own = type(self)
        return (
            own.user_followed is not SettingsAdapter.user_followed
            or own.social_names is not SettingsAdapter.social_names
        )

    def _circle_statement(self, limit: int) -> CircleStatement | None:
        statements = self._circle_statements
        if limit not in statements:
            statements[limit] = _circle_statement(self, limit)
        return statements[limit]

    @cached_property
    def _circle_statements(self) -> dict[int, CircleStatement | None]:
        return {}

    def social_names(self, user_pks: Iterable[Any]) -> dict[Any, str]:
        """Display names of those of ``user_pks`` who share their activity with followers.

        Empty unless ``SOCIAL`` has ``SHARING_FIELD`` and ``DISPLAY_NAME_FIELD``; a user
        who does not share, or has a blank name, is never named.
        """
        relation, pks = app_settings.SOCIAL, list(user_pks)
        if relation is None or not relation.names_people or not pks:
            return {}
        rows = (
            get_user_model()
            ._default_manager.filter(pk__in=pks, **{relation.sharing_field: True})
            .values_list("pk", relation.display_name_field)
        )
        return {pk: str(name).strip() for pk, name in rows if name and str(name).strip()}

    def social_activity(
        self, user_pks: Iterable[Any], *, item_pks: Iterable[Any] | None = None, limit: int = 5000
    ) -> list[SocialEvent]:
        """What consenting ``user_pks`` bought (purchase sources) or rated well (sources
        with a VALUE_FIELD, positive weights only), at most ``limit`` of each source's
        newest rows, in no set order: the social layer's evidence. Views and other
        sources are never shown to anyone else.

        With ``item_pks``, one compiled statement reads every source and the consent
        (:class:`SocialStatement`) when the key lists fit ``SOCIAL_STATEMENT_SIZES``.
        """
        pks = list(user_pks)
        items = None if item_pks is None else list(item_pks)
        if not pks or items == []:
            return []
        sources = _told_sources()
        statement = None if items is None else self._social_statement(len(pks), len(items), limit)
        if statement is not None:
            rows_by_source = statement.read(pks, items, len(sources))
        else:
            rows_by_source = self._social_rows(sources, pks, items, limit)
        events: list[SocialEvent] = []
        for source, rows in zip(sources, rows_by_source, strict=True):
            values = [row[2] for row in rows] if source.value_field else None
            weights = self._source_weights(source, values, len(rows))
            events.extend(
                SocialEvent(
                    user_pk=row[0],
                    item_pk=row[1],
                    source=source.name,
                    purchase=source.role == PURCHASE,
                    value=None if values is None else row[2],
                )
                for row, weight in zip(rows, weights, strict=True)
                if math.isfinite(weight) and weight > 0
            )
        return events

    def _social_rows(
        self, sources: list[EventSource], pks: list[Any], items: list[Any] | None, limit: int
    ) -> list[list[tuple]]:
        """The (user, item, value or None) rows of each source of consenting ``pks``,
        newest first: one query per source and one for the consent."""
        pks = self.consenting_among(pks)
        if not pks:
            return [[] for _ in sources]
        rows_by_source = []
        for source in sources:
            queryset = self._source_queryset(source).filter(**{f"{source.user_field}__in": pks})
            if items is not None:
                queryset = queryset.filter(**{f"{source.item_field}__in": items})
            fields = [source.user_field, source.item_field]
            if source.value_field:
                fields.append(source.value_field)
            rows = queryset.order_by(f"-{source.time_field}").values_list(*fields)[:limit]
            rows_by_source.append([(*row, None)[:3] for row in rows])
        return rows_by_source

    def _social_statement(self, n_users: int, n_items: int, limit: int) -> SocialStatement | None:
        """The compiled statement for that many users and items (each padded to the next
        of ``SOCIAL_STATEMENT_SIZES``), once per adapter; None: the ORM's queries."""
        sizes = [
            next((size for size in SOCIAL_STATEMENT_SIZES if size >= n), None)
            for n in (n_users, n_items)
        ]
        if None in sizes:
            return None
        key = (*sizes, limit)
        statements = self._social_statements
        if key not in statements:
            statements[key] = _social_statement(self, sizes[0], sizes[1], limit)
        return statements[key]

    @cached_property
    def _social_statements(self) -> dict[tuple[int, ...], SocialStatement | None]:
        return {}

    # -- the shopper's session (serving hooks) --------------------------------------------

    def cart_item_pks(self, request: HttpRequest) -> list[Any]:
        """Keys of the items in the shopper's cart; never recommended. Default: none.

        The app cannot know where a host keeps its cart: override this to read it.
        """
        return []

    def session_item_pks(self, request: HttpRequest) -> list[Any]:
        """Keys of the items viewed in this session, newest first, each once.

        Read from the event source whose ``ROLE`` is ``view`` when its model has a
        ``session_key`` field (views the host records itself), followed by the views
        posted to the events API, which the app keeps in the session.
        """
        session = getattr(request, "session", None)
        if session is None:
            return []
        viewed: list[Any] = []
        source = next((s for s in app_settings.EVENT_SOURCES if s.role == VIEW), None)
        if source is not None and session.session_key:
            model = apps.get_model(source.model)
            if any(f.name == SESSION_FIELD for f in model._meta.get_fields()):
                viewed = list(
                    model._default_manager.filter(**source.filter)
                    .filter(**{SESSION_FIELD: session.session_key})
                    .order_by(f"-{source.time_field}")
                    .values_list(source.item_field, flat=True)[:MAX_SESSION_ITEMS]
                )
        viewed += session.get(SESSION_VIEWS_KEY, [])
        # The database gives typed keys, the session strings: one entry per item.
        unique: dict[str, Any] = {}
        for pk in viewed:
            unique.setdefault(str(pk), pk)
        return list(unique.values())[:MAX_SESSION_ITEMS]

    def record_view(self, user: Any, session_key: str, item_pk: Any) -> None:
        """Store a view posted to the events API in the host's models. Default: nothing.

        The app keeps such views in the session anyway; override this to write them
        where the ``view`` event source reads, so they also train the next model.
        ``user`` is None for an anonymous shopper.
        """

    # -- features ---------------------------------------------------------------------------

    def item_features(self, item_pks: Any) -> sp.csr_matrix:
        """Content features of the items, one row per key (zeros for unknown items).

        Category and price band are hashed attributes; text is TF-IDF over hashed terms.
        """
        keys = list(np.asarray(item_pks).tolist())
        category, price = app_settings.CATEGORY_FIELD, app_settings.PRICE_FIELD
        # One value per item: many-valued lookups read their first value (annotated).
        expressions = {
            CATEGORY_ANNOTATION: self.shape.category_expression,
            PRICE_ANNOTATION: self.shape.price_expression,
        }
        columns = [
            CATEGORY_ANNOTATION if expressions[CATEGORY_ANNOTATION] is not None else category,
            PRICE_ANNOTATION if expressions[PRICE_ANNOTATION] is not None else price,
        ]
        for position, lookup in enumerate(app_settings.TEXT_FIELDS):
            name = f"recommendations_text_{position}"
            expressions[name] = self._first_value(lookup, [])
            columns.append(lookup if expressions[name] is None else name)
        queryset = self._annotated(
            self.shape.model._default_manager.filter(pk__in=keys), **expressions
        )
        rows = {
            row[0]: row
            for row in queryset.values_list("pk", *(c for c in columns if c)).iterator(
                chunk_size=CHUNK_SIZE
            )
        }
        attributes: list[dict[str, float]] = []
        documents: list[str] = []
        for key in keys:
            row = rows.get(key)
            if row is None:
                attributes.append({})
                documents.append("")
                continue
            values = iter(row[1:])
            features: dict[str, float] = {}
            if category:
                value = next(values)
                if value is not None:
                    features[f"category={value}"] = 1.0
            if price:
                value = next(values)
                if value is not None and float(value) > 0:
                    # Price bands on a log scale: 1-2, 2-4, 4-8, ... currency units.
                    features[f"price={math.floor(math.log2(float(value)))}"] = 0.5
            attributes.append(features)
            documents.append(" ".join(str(v) for v in values if v))
        hashed = hash_features(attributes, ITEM_ATTRIBUTE_DIMENSIONS)
        text = import_string(self.text_features)(documents, ITEM_TEXT_DIMENSIONS)
        return sp.hstack([hashed, text], format="csr", dtype=np.float32)

    def user_features(self, user_pks: Any) -> sp.csr_matrix:
        """Hashed user attributes (``USER_FEATURES``), one row per key; numbers bin by decade."""
        keys = list(np.asarray(user_pks).tolist())
        features = app_settings.USER_FEATURES
        names, lookups = list(features), list(features.values())
        rows: dict[Any, tuple[Any, ...]] = {}
        if lookups:
            rows = {
                row[0]: row[1:]
                for row in get_user_model()
                ._default_manager.filter(pk__in=keys)
                .values_list("pk", *lookups)
                .iterator(chunk_size=CHUNK_SIZE)
            }
        tokens = []
        for key in keys:
            row = rows.get(key, ())
            user: dict[str, float] = {}
            for name, value in zip(names, row, strict=False):
                if value is None or value == "":
                    continue
                if isinstance(value, int | float) and not isinstance(value, bool):
                    value = f"{int(value) // 10 * 10}s"
                user[f"{name.lower()}={value}"] = 1.0
            tokens.append(user)
        return hash_features(tokens, USER_FEATURE_DIMENSIONS)


#: Stands for the user's key while a history statement is compiled (found in its params).
#: Within a 32-bit key's range: PostgreSQL's lookups refuse a value out of the column's.
_USER_PLACEHOLDER = -1_987_654_321


@dataclass(frozen=True)
class HistoryRead:
    """What one history statement read: rows per source, the items bought, the consent."""

    rows: list[list[tuple]]
    bought: frozenset[str]
    consents: bool


@dataclass(frozen=True)
class HistoryStatement:
    """The history of one user in every source as one compiled SQL statement.

    Each source's newest rows are a sub-select of a ``UNION ALL``, tagged with the
    source's position; every item of each purchase source follows, once each, tagged
    after them; each row carries the user's consent. The user's key is bound where the
    compiled parameters hold the placeholder. Built once per adapter, so a request pays
    neither the ORM's query building nor one round trip per source.
    """

    alias: str
    sql: str
    params: tuple[Any, ...]
    user_positions: tuple[int, ...]

    def read(self, user_pk: Any, n_sources: int) -> HistoryRead:
        """The (item, time, value) rows of each source, newest first within a source."""
        fetched = _bound_rows(
            self.alias, self.sql, self.params, self.user_positions, repeat(user_pk)
        )
        by_source: list[list[tuple]] = [[] for _ in range(n_sources)]
        bought: set[str] = set()
        consents = True
        times = _as_datetimes(list(map(itemgetter(1), fetched)))
        for (item, _time, value, code, consent), time in zip(fetched, times, strict=True):
            consents = consents and bool(consent)
            if code < n_sources:
                by_source[code].append((item, time, value))
            else:
                bought.add(str(item))
        for rows in by_source:
            rows.sort(key=itemgetter(1), reverse=True)
        return HistoryRead(by_source, frozenset(bought), consents)


def _as_datetimes(values: list[Any]) -> list[Any]:
    """Time columns read by a raw cursor as the ORM reads them (SQLite returns text): one
    pass for a whole history, not a call per row."""
    aware = settings.USE_TZ
    result = []
    for value in values:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if aware and isinstance(value, dt.datetime) and timezone.is_naive(value):
            value = value.replace(tzinfo=dt.UTC)
        result.append(value)
    return result


def _history_statement(
    adapter: SettingsAdapter, limit: int, bought: bool
) -> HistoryStatement | None:
    """The compiled history statement, or None when the sources cannot share one query.

    (Sources in several databases, values of several types, or a user key the
    placeholder cannot stand for.)
    """
    sources = app_settings.EVENT_SOURCES
    try:
        # Values of one type, and NULLs of that type: databases unite columns of one type.
        value_fields = {
            field.get_internal_type(): field
            for field in (
                adapter._source_history(source, _USER_PLACEHOLDER, limit)
                .query.annotations["_event_value"]
                .output_field
                for source in sources
                if source.value_field
            )
        }
        if len(value_fields) > 1:
            return None
        null = type(next(iter(value_fields.values())))() if value_fields else None
        querysets = [
            adapter._source_history(source, _USER_PLACEHOLDER, limit, null=null)
            for source in sources
        ]
        if querysets and bought:
            time_field = querysets[0].model._meta.get_field(sources[0].time_field)
            querysets += [
                adapter._source_bought(
                    source,
                    _USER_PLACEHOLDER,
                    null_time=type(time_field)(),
                    null=null or models.FloatField(),
                )
                for source in sources
                if source.role == PURCHASE
            ]
        consent = _consent_queryset(_USER_PLACEHOLDER)
        return _statement_compile(querysets, consent)
    except (ValueError, TypeError, FieldDoesNotExist, ValidationError):
        return None
    except (EmptyResultSet, FullResultSet):  # a placeholder out of the key's range
        return None


def _union_all(querysets: list[models.QuerySet]) -> tuple[str, str, list[Any]] | None:
    """The database alias, SQL and parameters of the sub-selects ``querysets`` united,
    each row tagged with its sub-select's position; None: they span databases."""
    parts, params, alias = [], [], None
    for code, queryset in enumerate(querysets):
        if alias not in (None, queryset.db):
            return None
        alias = queryset.db
        sql, part_params = queryset.query.get_compiler(queryset.db).as_sql()
        # The position tags each row with its source; the alias keeps PostgreSQL happy.
        parts.append(f"SELECT s{code}.*, {int(code)} FROM ({sql}) s{code}")
        params.extend(part_params)
    if alias is None:
        return None
    return alias, " UNION ALL ".join(parts), params


def _bound_rows(
    alias: str,
    sql: str,
    params: tuple[Any, ...],
    positions: Iterable[int],
    values: Iterable[Any],
) -> list[tuple]:
    """The rows of a compiled statement, with ``values`` put in its parameters at
    ``positions`` (``itertools.repeat`` for one value everywhere: a shopper's first list
    reads two statements, and a generator would add a Python call per position)."""
    bound = list(params)
    for position, value in zip(positions, values, strict=False):  # repeat() is endless
        bound[position] = value
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, bound)
        return cursor.fetchall()


def _statement_compile(
    querysets: list[models.QuerySet], consent: models.QuerySet | None
) -> HistoryStatement | None:
    """One statement of the sub-selects ``querysets``, each row with the consent."""
    compiled = _union_all(querysets)
    if compiled is None:
        return None
    alias, union, params = compiled
    if consent is None:
        sql = f"SELECT h.*, 1 FROM ({union}) h"
    else:
        if consent.db != alias:
            return None
        consent_sql, consent_params = consent.query.get_compiler(alias).as_sql()
        sql = f"SELECT h.*, EXISTS({consent_sql}) FROM ({union}) h"
        params = [*consent_params, *params]
    positions = tuple([i for i, p in enumerate(params) if p == _USER_PLACEHOLDER])
    if not positions:
        return None
    return HistoryStatement(alias, sql, tuple(params), positions)


@dataclass(frozen=True)
class CircleStatement:
    """Whom a user follows, newest first, with each followed user's sharing flag and
    display name, as one compiled statement (the user's key bound at ``positions``)."""

    alias: str
    sql: str
    params: tuple[Any, ...]
    positions: tuple[int, ...]
    names: bool

    def read(self, user_pk: Any, limit: int) -> tuple[list[Any], dict[Any, str]]:
        """The followed keys (at most ``limit``, never the user) and the sharers' names."""
        rows = _bound_rows(self.alias, self.sql, self.params, self.positions, repeat(user_pk))
        followed = [pk for pk in dict.fromkeys(row[0] for row in rows) if pk != user_pk][:limit]
        names = {}
        if self.names:
            kept = set(followed)
            names = {
                row[0]: str(row[2]).strip()
                for row in rows
                if row[0] in kept and row[1] and row[2] and str(row[2]).strip()
            }
        return followed, names


def _circle_statement(adapter: SettingsAdapter, limit: int) -> CircleStatement | None:
    """The compiled circle statement, or None: no relation, a mutual one (two ways to
    read), or lookups a join from the follow model cannot take."""
    relation = app_settings.SOCIAL
    if relation is None or relation.mutual:
        return None
    try:
        queryset = adapter.social_queryset(relation)
        if relation.weight_field:
            queryset = queryset.filter(**{f"{relation.weight_field}__gt": 0})
        fields = [relation.followed_field]
        if relation.names_people:
            fields += [
                f"{relation.followed_field}__{relation.sharing_field}",
                f"{relation.followed_field}__{relation.display_name_field}",
            ]
        order = [f"-{relation.time_field}"] if relation.time_field else []
        # Room for the user's own key and repeated relations, left out when read.
        queryset = (
            queryset.filter(**{relation.follower_field: _USER_PLACEHOLDER})
            .order_by(*order)
            .values_list(*fields)[: 2 * limit + 1]
        )
        sql, params = queryset.query.get_compiler(queryset.db).as_sql()
    except (ValueError, TypeError, FieldDoesNotExist, FieldError, ValidationError):
        return None
    except (EmptyResultSet, FullResultSet):
        return None
    positions = tuple(i for i, p in enumerate(params) if p == _USER_PLACEHOLDER)
    if not positions:
        return None
    return CircleStatement(queryset.db, sql, tuple(params), positions, relation.names_people)


def _told_sources() -> list[EventSource]:
    """The sources social reasons tell of: purchases, and ratings (sources with values)."""
    return [s for s in app_settings.EVENT_SOURCES if s.role == PURCHASE or s.value_field]


#: Sizes of the key lists a compiled social statement takes: a list is padded (its first
#: key repeated) to the next size; a longer one is read with the ORM's queries.
SOCIAL_STATEMENT_SIZES = (8, 32, 128, 512)
#: Stand-ins for the users' and the items' keys where the statement binds them.
_SOCIAL_USER_BASE = -1_986_000_000
_SOCIAL_ITEM_BASE = -1_985_000_000


@dataclass(frozen=True)
class SocialStatement:
    """What followed users did with some items, in every told source, as one compiled
    statement: each source's newest rows of the users who consent, tagged with the
    source's position, for lists of ``n_users`` and ``n_items`` keys."""

    alias: str
    sql: str
    params: tuple[Any, ...]
    user_slots: tuple[tuple[int, int], ...]  # (parameter position, user slot)
    item_slots: tuple[tuple[int, int], ...]
    n_users: int
    n_items: int

    def read(self, user_pks: list[Any], item_pks: list[Any], n_sources: int) -> list[list[tuple]]:
        """The (user, item, value) rows of each source: its newest, in the order the
        database gives them. The social layer only counts them, so the times are
        neither parsed nor sorted here (on SQLite, a string to parse per row)."""
        users = [*user_pks, *[user_pks[0]] * (self.n_users - len(user_pks))]
        items = [*item_pks, *[item_pks[0]] * (self.n_items - len(item_pks))]
        values = [users[slot] for _, slot in self.user_slots]
        values += [items[slot] for _, slot in self.item_slots]
        by_source: list[list[tuple]] = [[] for _ in range(n_sources)]
        for user, item, _time, value, code in _bound_rows(
            self.alias, self.sql, self.params, self._positions, values
        ):
            by_source[code].append((user, item, value))
        return by_source

    @cached_property
    def _positions(self) -> list[int]:
        """The parameter positions of the users' and then the items' keys."""
        return [position for position, _ in (*self.user_slots, *self.item_slots)]


def _social_statement(
    adapter: SettingsAdapter, n_users: int, n_items: int, limit: int
) -> SocialStatement | None:
    """The compiled social statement, or None when the sources cannot share one query
    (as :func:`_history_statement`'s, or keys the stand-ins cannot stand for)."""
    sources = _told_sources()
    users = [_SOCIAL_USER_BASE - i for i in range(n_users)]
    items = [_SOCIAL_ITEM_BASE - i for i in range(n_items)]
    lookup = app_settings.CONSENT_FIELD
    try:
        # Each source's columns, typed: a database unites columns of one type only.
        columns = [
            adapter._source_queryset(source).annotate(
                _event_user=F(source.user_field),
                _event_item=F(source.item_field),
                _event_time=F(source.time_field),
                **({"_event_value": F(source.value_field)} if source.value_field else {}),
            )
            for source in sources
        ]
        fields = [
            [
                queryset.query.annotations[name].output_field
                for name in ("_event_user", "_event_item", "_event_time", "_event_value")
                if name in queryset.query.annotations
            ]
            for queryset in columns
        ]
        for position in range(3):
            if len({row[position].get_internal_type() for row in fields}) > 1:
                return None
        values = [row[3] for row in fields if len(row) == 4]
        if len({field.get_internal_type() for field in values}) > 1:
            return None
        null = type(values[0])() if values else models.FloatField()
        querysets = []
        for source, queryset in zip(sources, columns, strict=True):
            queryset = queryset.filter(_event_user__in=users, _event_item__in=items)
            if lookup:
                consenting = get_user_model()._default_manager.filter(
                    pk__in=users, **{lookup: True}
                )
                queryset = queryset.filter(_event_user__in=consenting.values("pk"))
            if not source.value_field:
                queryset = queryset.annotate(_event_value=Cast(Value(None), output_field=null))
            querysets.append(
                queryset.order_by("-_event_time").values_list(
                    "_event_user", "_event_item", "_event_time", "_event_value"
                )[:limit]
            )
        compiled = _union_all(querysets)
    except (ValueError, TypeError, FieldDoesNotExist, ValidationError):
        return None
    except (EmptyResultSet, FullResultSet):
        return None
    if compiled is None:
        return None
    alias, sql, params = compiled
    user_slot = {key: slot for slot, key in enumerate(users)}
    item_slot = {key: slot for slot, key in enumerate(items)}
    # Only integers: a parameter may be unhashable (a list, a JSON value).
    keys = [(i, p) for i, p in enumerate(params) if type(p) is int]
    user_slots = tuple((i, user_slot[p]) for i, p in keys if p in user_slot)
    item_slots = tuple((i, item_slot[p]) for i, p in keys if p in item_slot)
    # Every stand-in must be bound where it was compiled, or the statement is not used.
    if {slot for _, slot in user_slots} != set(range(n_users)) or {
        slot for _, slot in item_slots
    } != set(range(n_items)):
        return None
    return SocialStatement(alias, sql, tuple(params), user_slots, item_slots, n_users, n_items)


def _consent_queryset(user_pk: Any) -> models.QuerySet | None:
    """The user's row when they consent to personalisation (None: no consent field)."""
    lookup = app_settings.CONSENT_FIELD
    if not lookup:
        return None
    return get_user_model()._default_manager.filter(pk=user_pk, **{lookup: True}).values("pk")


def get_adapter() -> SettingsAdapter:
    """This process's instance of the configured adapter class (``RECOMMENDATIONS["ADAPTER"]``).

    Kept with the setting (:attr:`~recommendations.conf.AppSettings.adapter`): a new
    value of the setting makes a new adapter, which resolves the catalog again.
    """
    return app_settings.adapter
