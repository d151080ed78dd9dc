"""System checks of the ``RECOMMENDATIONS`` setting: a wrong configuration fails at startup.

recommendations.E001  unknown or missing model label
recommendations.E002  a field lookup that does not exist (or points at the wrong model),
                      GROUP_FIELD of an event source included
recommendations.E003  unknown algorithm name or bad algorithm parameters (ALGORITHMS,
                      SIMILAR_PARAMS, BOUGHT_TOGETHER_PARAMS)
recommendations.E004  an event weight or value map that is not a finite number
recommendations.E005  a half-life that is not a positive number
recommendations.E006  an adapter path that cannot be imported
recommendations.E007  EVENT_SOURCES missing or malformed
recommendations.E008  bad PROMOTION values (metric, holdout days, minimum improvement,
                      minimum users)
recommendations.E009  ARTIFACT_STORAGE (not the default alias) not in settings.STORAGES
recommendations.E010  training time limits longer than the lock
recommendations.E011  a cache timeout or reload interval that is not a positive number
recommendations.E012  bad TRUST values (the defences against fake accounts)
recommendations.E013  a number of trusted proxies that is not a non-negative integer
recommendations.E014  a bad SOCIAL relation (model, follower/followed fields that are not
                      relations to the user model, weight or time fields, sharing or
                      display-name lookups from the user that do not resolve)
recommendations.E015  no folder for artifacts: no ARTIFACT_ROOT, BASE_DIR or STORAGES alias
recommendations.E016  bad SELECTION values (budget, folds, the search space)
recommendations.E017  a TRAINING_RUNNER other than "celery" or "process"
recommendations.E018  a USER_LIST_LENGTH that is not a non-negative integer
recommendations.W001  artifacts in a public storage ("default", or under MEDIA_ROOT)
recommendations.W002  a CATALOG field that cannot be read as configured: a category or
                      label ending at rows without ``__str__`` (and no label field), a
                      label ending at a to-many relation, a price that is not a number
                      field, a CATEGORY_LABEL_FIELD the category rows lack, an *_ORDER
                      for a field with one value per item
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils.module_loading import import_string

from recommendations.artifacts import artifact_storage
from recommendations.conf import (
    DEFAULT_ARTIFACT_STORAGE,
    METRICS,
    TRAINING_RUNNERS,
    EventSource,
    app_settings,
    lookup_list,
)
from recommendations.lookups import CatalogLookup, catalog_lookup
from recommendations.training import registered_algorithms

ID = "recommendations.{}"


def _error(code: str, msg: str, hint: str | None = None) -> checks.Error:
    return checks.Error(msg, hint=hint, id=ID.format(code))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def resolve_lookup(
    model: type[models.Model], lookup: str, *, allow_lookup: bool = False
) -> models.Field | models.ForeignObjectRel:
    """The field a ``__`` lookup path ends on; raise FieldDoesNotExist when it does not exist.

    With ``allow_lookup`` a final query lookup (``stock_quantity__gt``) is accepted.
    """
    current: type[models.Model] | None = model
    field: Any = None
    parts = lookup.split("__")
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if current is None:
            if allow_lookup and last and field.get_lookup(part) is not None:
                return field
            raise FieldDoesNotExist(f"{field.name!r} is not a relation, cannot follow {part!r}")
        try:
            field = current._meta.pk if part == "pk" else current._meta.get_field(part)
        except FieldDoesNotExist:
            if allow_lookup and last and field is not None and field.get_lookup(part):
                return field
            raise FieldDoesNotExist(f"{current._meta.label} has no field {part!r}") from None
        current = field.related_model if field.is_relation else None
    return field


def _model(label: Any, where: str) -> tuple[type[models.Model] | None, list[checks.Error]]:
    if not label:
        return None, [_error("E001", f"{where} is not set.", hint='e.g. "shop.Product"')]
    try:
        return apps.get_model(label), []
    except (LookupError, ValueError) as exc:
        return None, [_error("E001", f"{where} = {label!r} is not an installed model: {exc}")]


def _field(
    model: type[models.Model],
    lookup: Any,
    where: str,
    *,
    allow_lookup: bool = False,
    target: type[models.Model] | None = None,
) -> list[checks.Error]:
    if not isinstance(lookup, str) or not lookup:
        return [_error("E002", f"{where} must be a field lookup string, got {lookup!r}.")]
    try:
        field = resolve_lookup(model, lookup, allow_lookup=allow_lookup)
    except FieldDoesNotExist as exc:
        return [_error("E002", f"{where} = {lookup!r} does not exist: {exc}.")]
    if target is not None:
        related = field.related_model if field.is_relation else None
        if related is None or not issubclass(related, target):
            return [
                _error(
                    "E002",
                    f"{where} = {lookup!r} must lead to {target._meta.label}, "
                    f"not {related._meta.label if related else 'a plain field'}.",
                )
            ]
    return []


def _check_catalog() -> tuple[type[models.Model] | None, list[checks.CheckMessage]]:
    catalog = getattr(settings, "RECOMMENDATIONS", {}).get("CATALOG") or {}
    model, errors = _model(catalog.get("MODEL"), "RECOMMENDATIONS['CATALOG']['MODEL']")
    if model is None:
        return None, errors
    for key in ("CATEGORY_FIELD", "LABEL_FIELD", "PRICE_FIELD"):
        if catalog.get(key):
            errors += _field(model, catalog[key], f"RECOMMENDATIONS['CATALOG'][{key!r}]")
    for lookup in app_settings.TEXT_FIELDS:
        errors += _field(model, lookup, "RECOMMENDATIONS['CATALOG']['TEXT_FIELDS']")
    for key in ("CATEGORY_ORDER", "PRICE_ORDER", "LABEL_ORDER"):
        for lookup in lookup_list(catalog.get(key)):
            where = f"RECOMMENDATIONS['CATALOG'][{key!r}]"
            name = lookup[1:] if isinstance(lookup, str) and lookup.startswith("-") else lookup
            errors += _field(model, name, where)
    errors += _check_catalog_readable(model, catalog)
    for lookup in app_settings.CATALOG_AVAILABLE:
        errors += _field(
            model, lookup, "RECOMMENDATIONS['CATALOG']['AVAILABLE']", allow_lookup=True
        )
    return model, errors


def _has_str(model: type[models.Model]) -> bool:
    """Whether the model (or an abstract parent) says what its rows are called."""
    return any(
        "__str__" in vars(klass)
        for klass in model.__mro__
        if issubclass(klass, models.Model) and klass is not models.Model
    )


def _check_catalog_readable(
    model: type[models.Model], catalog: dict[str, Any]
) -> list[checks.CheckMessage]:
    """W002 for each CATALOG field that exists but cannot be read the way it is meant."""
    warnings: list[checks.CheckMessage] = []

    def warn(key: str, text: str, hint: str | None = None) -> None:
        message = f"RECOMMENDATIONS['CATALOG'][{key!r}] = {catalog[key]!r} {text}"
        warnings.append(checks.Warning(message, hint=hint, id=ID.format("W002")))

    def resolved(key: str) -> CatalogLookup | None:
        value = catalog.get(key)
        if not value or not isinstance(value, str):
            return None
        try:
            return catalog_lookup(model, value)
        except FieldDoesNotExist:  # E002
            return None

    category, label, price = map(resolved, ("CATEGORY_FIELD", "LABEL_FIELD", "PRICE_FIELD"))
    category_label = catalog.get("CATEGORY_LABEL_FIELD")
    if category is not None and category.target is not None:
        target = category.target._meta.label
        if category_label:
            try:
                catalog_lookup(category.target, str(category_label))
            except FieldDoesNotExist as exc:
                warn("CATEGORY_LABEL_FIELD", f"cannot be read on {target} rows: {exc}.")
        elif not _has_str(category.target):
            warn(
                "CATEGORY_FIELD",
                f"ends at {target} rows, which have no __str__: reasons would read "
                f"'Trending in {category.target.__name__} object (1)'.",
                hint=f"Set RECOMMENDATIONS['CATALOG']['CATEGORY_LABEL_FIELD'] to a field of "
                f"{target}, such as 'name'.",
            )
    elif category is not None and category_label:
        warn("CATEGORY_LABEL_FIELD", "is not read: CATEGORY_FIELD ends at a value, not at rows.")
    if label is not None and label.target is not None:
        if label.many:
            warn(
                "LABEL_FIELD",
                f"ends at a to-many relation: labels would read a {label.target._meta.label} key.",
                hint=f"Name a field of it, such as '{label.lookup}__name'.",
            )
        elif not _has_str(label.target):
            warn(
                "LABEL_FIELD",
                f"ends at {label.target._meta.label} rows, which have no __str__.",
                hint=f"Name a field of it, such as '{label.lookup}__name'.",
            )
    numeric = (models.DecimalField, models.FloatField, models.IntegerField)
    if price is not None and (price.target is not None or not isinstance(price.field, numeric)):
        warn(
            "PRICE_FIELD",
            "is not a number field: prices would be missing from cards and content features.",
            hint="Name a DecimalField, FloatField or IntegerField (e.g. 'stockrecords__price').",
        )
    for key, field, name in (
        ("CATEGORY_ORDER", category, "CATEGORY_FIELD"),
        ("PRICE_ORDER", price, "PRICE_FIELD"),
        ("LABEL_ORDER", label, "LABEL_FIELD"),
    ):
        if catalog.get(key) and field is not None and not field.many:
            warn(key, f"is not read: {name} has one value per item.")
    return warnings


def _check_source(
    position: int, source: EventSource, catalog: type[models.Model] | None
) -> list[checks.Error]:
    where = f"RECOMMENDATIONS['EVENT_SOURCES'][{position}]"
    model, errors = _model(source.model, f"{where}['MODEL']")
    if model is None:
        return errors
    user_model = get_user_model()
    errors += _field(model, source.user_field, f"{where}['USER_FIELD']", target=user_model)
    errors += _field(model, source.item_field, f"{where}['ITEM_FIELD']", target=catalog)
    errors += _field(model, source.time_field, f"{where}['TIME_FIELD']")
    if source.value_field:
        errors += _field(model, source.value_field, f"{where}['VALUE_FIELD']")
    if source.group_field is not None:
        errors += _field(model, source.group_field, f"{where}['GROUP_FIELD']")
    for lookup in source.filter:
        errors += _field(model, lookup, f"{where}['FILTER']", allow_lookup=True)
    if not _is_number(source.weight):
        errors.append(_error("E004", f"{where}['WEIGHT'] must be a finite number."))
    if source.value_map is not None:
        if source.value_field is None:
            errors.append(_error("E004", f"{where} has a VALUE_MAP but no VALUE_FIELD."))
        bad = {k: v for k, v in source.value_map.items() if not _is_number(v)}
        if bad:
            errors.append(_error("E004", f"{where}['VALUE_MAP'] has non-numeric weights {bad}."))
    return errors


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.Error]:
    """Validate ``settings.RECOMMENDATIONS``."""
    if not hasattr(settings, "RECOMMENDATIONS"):
        return [
            _error(
                "E001",
                "settings.RECOMMENDATIONS is not defined.",
                hint="Point the app at your models: at least CATALOG and EVENT_SOURCES (see "
                "the README's 'Add to your Django project'; recommendations/conf.py lists "
                "every key).",
            )
        ]
    catalog, errors = _check_catalog()

    try:
        sources = app_settings.EVENT_SOURCES
    except ImproperlyConfigured as exc:
        errors.append(_error("E007", str(exc)))
        sources = []
    for position, source in enumerate(sources):
        errors += _check_source(position, source, catalog)

    user_model = get_user_model()
    if app_settings.CONSENT_FIELD:
        errors += _field(
            user_model, app_settings.CONSENT_FIELD, "RECOMMENDATIONS['CONSENT_FIELD']"
        )
    for name, lookup in app_settings.USER_FEATURES.items():
        errors += _field(user_model, lookup, f"RECOMMENDATIONS['USER_FEATURES'][{name!r}]")

    errors += _check_algorithms()

    errors += _positive(
        "E005", ("HALF_LIFE_DAYS", "TRENDING_HALF_LIFE_DAYS"), optional="HALF_LIFE_DAYS"
    )

    try:
        adapter = import_string(app_settings.ADAPTER)
        if not isinstance(adapter, type):
            raise ImportError(f"{app_settings.ADAPTER} is not a class")
    except ImportError as exc:
        errors.append(_error("E006", f"RECOMMENDATIONS['ADAPTER'] cannot be imported: {exc}."))

    errors += _check_promotion()
    errors += _check_artifact_storage()
    errors += _positive(
        "E011",
        ("CACHE_TIMEOUT", "RELOAD_INTERVAL", "HISTORY_TIMEOUT", "TRAINING_LOCK_STALE_AFTER"),
        optional="HISTORY_TIMEOUT",
    )
    errors += _check_trust()
    errors += _check_selection()
    errors += _check_social()
    errors += _non_negative_int(
        "E013", "NUM_PROXIES", "The number of reverse proxies in front of the site; 0 without any."
    )
    errors += _non_negative_int(
        "E018",
        "USER_LIST_LENGTH",
        "Items of each user's list computed at training time; 0 turns it off.",
    )
    if app_settings.TRAINING_RUNNER not in TRAINING_RUNNERS:
        errors.append(
            _error(
                "E017",
                f"RECOMMENDATIONS['TRAINING_RUNNER'] must be one of {', '.join(TRAINING_RUNNERS)}"
                f", got {app_settings.TRAINING_RUNNER!r}.",
                hint='"process" trains in a process of its own when there is no Celery broker.',
            )
        )
    limits = (
        app_settings.TRAINING_SOFT_TIME_LIMIT,
        app_settings.TRAINING_TIME_LIMIT,
        app_settings.TRAINING_LOCK_TIMEOUT,
    )
    if not all(_is_number(v) and v > 0 for v in limits) or not limits[0] <= limits[1] <= limits[2]:
        errors.append(
            _error(
                "E010",
                "Training limits must be positive with TRAINING_SOFT_TIME_LIMIT <= "
                f"TRAINING_TIME_LIMIT <= TRAINING_LOCK_TIMEOUT, got {limits}.",
                hint="Otherwise the lock of a running training could expire under it.",
            )
        )
    return errors


def _positive(code: str, keys: tuple[str, ...], *, optional: str) -> list[checks.Error]:
    """An error for each setting of ``keys`` that is not a positive number (``optional``
    may also be None)."""
    errors = []
    for key in keys:
        value = getattr(app_settings, key)
        if key == optional and value is None:
            continue
        if not _is_number(value) or value <= 0:
            errors.append(
                _error(code, f"RECOMMENDATIONS[{key!r}] must be a positive number, got {value!r}.")
            )
    return errors


def _check_algorithms() -> list[checks.Error]:
    known = registered_algorithms()
    errors = []
    configured = getattr(settings, "RECOMMENDATIONS", {})
    # Unset or None, ALGORITHMS has a default (conf.DEFAULT_ALGORITHMS, social ones with
    # SOCIAL); an empty dict is an error.
    algorithms = configured.get("ALGORITHMS")
    if algorithms is None:
        algorithms = app_settings.ALGORITHMS
    if not isinstance(algorithms, dict) or not algorithms:
        return [_error("E003", "RECOMMENDATIONS['ALGORITHMS'] must be a non-empty dict.")]
    names = [*algorithms, app_settings.SIMILAR_ALGORITHM, "popularity"]
    for name in dict.fromkeys(names):
        if name not in known:
            errors.append(
                _error(
                    "E003",
                    f"Unknown recommendation algorithm {name!r}.",
                    hint=f"Known: {', '.join(sorted(known))}.",
                )
            )
    item_to_item = (
        ("SIMILAR_PARAMS", app_settings.SIMILAR_PARAMS, app_settings.SIMILAR_ALGORITHM),
        ("BOUGHT_TOGETHER_PARAMS", app_settings.BOUGHT_TOGETHER_PARAMS, "cooccurrence"),
    )
    for setting, params, name in item_to_item:
        if name not in known:  # reported above
            continue
        allowed = known[name]._param_names()
        unknown = set(params) - set(allowed)
        if unknown:
            errors.append(
                _error(
                    "E003",
                    f"RECOMMENDATIONS[{setting!r}] has parameter(s) {', '.join(sorted(unknown))} "
                    f"that {name!r} does not take.",
                    hint=f"Known: {', '.join(allowed)}.",
                )
            )
    for name, params in algorithms.items():
        if not isinstance(params, dict):
            errors.append(
                _error("E003", f"RECOMMENDATIONS['ALGORITHMS'][{name!r}] must be a dict.")
            )
        elif name in known:
            unknown = set(params) - set(known[name]._param_names())
            if unknown:
                errors.append(
                    _error(
                        "E003",
                        f"Algorithm {name!r} has no parameter(s) {', '.join(sorted(unknown))}.",
                    )
                )
    return errors


def _check_artifact_storage() -> list[checks.CheckMessage]:
    alias = app_settings.ARTIFACT_STORAGE
    if alias not in settings.STORAGES and alias != DEFAULT_ARTIFACT_STORAGE:
        return [
            _error(
                "E009",
                f"RECOMMENDATIONS['ARTIFACT_STORAGE'] = {alias!r} is not a key of "
                "settings.STORAGES.",
            )
        ]
    if alias not in settings.STORAGES and app_settings.ARTIFACT_ROOT is None:
        return [
            _error(
                "E015",
                "Trained artifacts have no folder: the project has no BASE_DIR.",
                hint=f"Set RECOMMENDATIONS['ARTIFACT_ROOT'] to a private folder, or define "
                f"settings.STORAGES[{DEFAULT_ARTIFACT_STORAGE!r}].",
            )
        ]
    if alias == "default" or _served_folder(artifact_storage()):
        return [
            checks.Warning(
                f"Trained artifacts go to a public storage ({alias!r}, "
                f"{getattr(artifact_storage(), 'location', 'the uploads storage')}); "
                "they hold every shopper's purchase history.",
                hint="Leave RECOMMENDATIONS['ARTIFACT_STORAGE'] unset (a private folder, "
                "ARTIFACT_ROOT), or name a private storage of settings.STORAGES.",
                id=ID.format("W001"),
            )
        ]
    return []


def _served_folder(storage: Any) -> bool:
    """Whether a file storage keeps its files in MEDIA_ROOT or STATIC_ROOT, or below."""
    location = getattr(storage, "location", None)
    if not isinstance(storage, FileSystemStorage) or not location:
        return False
    place = Path(location).resolve()
    served = [getattr(settings, name, None) for name in ("MEDIA_ROOT", "STATIC_ROOT")]
    return any(root and place.is_relative_to(Path(root).resolve()) for root in served)


def _check_promotion() -> list[checks.Error]:
    errors = []
    if app_settings.PROMOTION_METRIC not in METRICS:
        errors.append(
            _error(
                "E008",
                f"RECOMMENDATIONS['PROMOTION']['METRIC'] must be one of {', '.join(METRICS)}.",
            )
        )
    if not _is_number(app_settings.HOLDOUT_DAYS) or app_settings.HOLDOUT_DAYS <= 0:
        errors.append(_error("E008", "RECOMMENDATIONS['PROMOTION']['HOLDOUT_DAYS'] must be > 0."))
    if not _is_number(app_settings.MIN_IMPROVEMENT):
        errors.append(
            _error("E008", "RECOMMENDATIONS['PROMOTION']['MIN_IMPROVEMENT'] must be a number.")
        )
    min_users = app_settings.MIN_USERS
    if isinstance(min_users, bool) or not isinstance(min_users, int) or min_users < 1:
        errors.append(
            _error("E008", "RECOMMENDATIONS['PROMOTION']['MIN_USERS'] must be a positive integer.")
        )
    if not isinstance(app_settings.EVALUATION_K, int) or app_settings.EVALUATION_K < 1:
        errors.append(
            _error("E008", "RECOMMENDATIONS['EVALUATION_K'] must be a positive integer.")
        )
    return errors


def _non_negative_int(code: str, name: str, hint: str) -> list[checks.CheckMessage]:
    """An error when the setting ``name`` is not an integer >= 0."""
    value = getattr(app_settings, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return [
            _error(
                code,
                f"RECOMMENDATIONS[{name!r}] must be an integer >= 0, got {value!r}.",
                hint=hint,
            )
        ]
    return []


def _check_trust() -> list[checks.Error]:
    errors = []
    where = "RECOMMENDATIONS['TRUST']"
    if not isinstance(app_settings.TRUST_ENABLED, bool):
        errors.append(_error("E012", f"{where}['ENABLED'] must be True or False."))
    weight = app_settings.TRUST_NO_PURCHASE_WEIGHT
    if not _is_number(weight) or not 0 <= weight <= 1:
        errors.append(
            _error(
                "E012", f"{where}['NO_PURCHASE_WEIGHT'] must be between 0 and 1, got {weight!r}."
            )
        )
    support = app_settings.TRUST_MIN_SUPPORT
    if not _is_number(support) or support < 0:
        errors.append(
            _error("E012", f"{where}['MIN_SUPPORT'] must be a number >= 0, got {support!r}.")
        )
    for key in ("MAX_ITEMS_PER_USER", "REPORT_DAYS"):
        value = getattr(app_settings, f"TRUST_{key}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(
                _error("E012", f"{where}[{key!r}] must be a positive integer, got {value!r}.")
            )
    return errors


def _check_social() -> list[checks.Error]:
    """E014 for a ``SOCIAL`` setting that cannot be read as (follower, followed) users."""
    try:
        relation = app_settings.SOCIAL
    except ImproperlyConfigured as exc:
        return [_error("E014", str(exc))]
    if relation is None:
        return []
    where = "RECOMMENDATIONS['SOCIAL']"
    model, errors = _model(relation.model, f"{where}['MODEL']")
    if model is None:
        return [_error("E014", error.msg) for error in errors]
    user_model = get_user_model()
    fields = [
        ("FOLLOWER_FIELD", relation.follower_field, user_model),
        ("FOLLOWED_FIELD", relation.followed_field, user_model),
        ("WEIGHT_FIELD", relation.weight_field, None),
        ("TIME_FIELD", relation.time_field, None),
    ]
    for key, lookup, target in fields:
        if lookup is not None or target is not None:
            errors += _field(model, lookup, f"{where}[{key!r}]", target=target)
    # Who may be named and by what name: read from the user, one relation away at most
    # (a profile), so that a change of either reaches the followers' lists at once.
    for key, lookup in (
        ("SHARING_FIELD", relation.sharing_field),
        ("DISPLAY_NAME_FIELD", relation.display_name_field),
    ):
        if lookup is None:
            continue
        errors += _field(user_model, lookup, f"{where}[{key!r}]")
        if isinstance(lookup, str) and lookup.count("__") > 1:
            errors.append(
                _error(
                    "E014",
                    f"{where}[{key!r}] = {lookup!r} must be on the user or one "
                    "relation away (e.g. 'profile__shares_activity').",
                )
            )
    if (relation.sharing_field is None) != (relation.display_name_field is None):
        errors.append(
            _error(
                "E014",
                f"{where} names people only with both SHARING_FIELD and DISPLAY_NAME_FIELD.",
                "Set both, or neither to give counts only.",
            )
        )
    return [_error("E014", error.msg, error.hint) for error in errors]


def _check_selection() -> list[checks.Error]:
    where = "RECOMMENDATIONS['SELECTION']"
    raw = getattr(settings, "RECOMMENDATIONS", {}).get("SELECTION", {})
    if not isinstance(raw, dict):
        return [_error("E016", f"{where} must be a dict, got {raw!r}.")]
    errors = []
    if not isinstance(app_settings.SELECTION_ENABLED, bool):
        errors.append(_error("E016", f"{where}['ENABLED'] must be True or False."))
    budget = app_settings.SELECTION_TIME_BUDGET_SECONDS
    if not _is_number(budget) or budget <= 0:
        errors.append(
            _error(
                "E016",
                f"{where}['TIME_BUDGET_SECONDS'] must be a positive number, got {budget!r}.",
            )
        )
    elif budget >= app_settings.TRAINING_SOFT_TIME_LIMIT:
        errors.append(
            _error(
                "E016",
                f"{where}['TIME_BUDGET_SECONDS'] ({budget}) leaves no time to train within "
                f"TRAINING_SOFT_TIME_LIMIT ({app_settings.TRAINING_SOFT_TIME_LIMIT}).",
            )
        )
    budget_share = app_settings.SELECTION_TIME_BUDGET_SHARE
    if not _is_number(budget_share) or budget_share < 0:
        errors.append(
            _error(
                "E016",
                f"{where}['TIME_BUDGET_SHARE'] must be a number >= 0, got {budget_share!r}.",
            )
        )
    for key in ("FOLDS", "MIN_USERS", "MAX_USERS", "MAX_EVALUATIONS"):
        value = getattr(app_settings, f"SELECTION_{key}")
        if key == "MAX_EVALUATIONS" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(
                _error("E016", f"{where}[{key!r}] must be a positive integer, got {value!r}.")
            )
    fold_days = raw.get("FOLD_DAYS")  # unset: HOLDOUT_DAYS, checked with PROMOTION
    if fold_days is not None and (not _is_number(fold_days) or fold_days <= 0):
        errors.append(_error("E016", f"{where}['FOLD_DAYS'] must be > 0, got {fold_days!r}."))
    share = app_settings.SELECTION_USER_SHARE
    if not _is_number(share) or not 0 < share < 1:
        errors.append(
            _error("E016", f"{where}['USER_SHARE'] must be between 0 and 1, got {share!r}.")
        )
    space = raw.get("SPACE", app_settings.SELECTION_SPACE)
    if not isinstance(space, dict):
        return [*errors, _error("E016", f"{where}['SPACE'] must be a dict, got {space!r}.")]
    known = registered_algorithms()
    for name, params in space.items():
        if name not in known:
            errors.append(
                _error(
                    "E016",
                    f"{where}['SPACE'] names an unknown algorithm {name!r}.",
                    hint=f"Known: {', '.join(sorted(known))}.",
                )
            )
            continue
        if not isinstance(params, dict):
            errors.append(_error("E016", f"{where}['SPACE'][{name!r}] must be a dict."))
            continue
        for param, values in params.items():
            if param not in known[name]._param_names():
                errors.append(
                    _error("E016", f"{where}['SPACE'][{name!r}]: no parameter {param!r}.")
                )
            elif not isinstance(values, list | tuple) or not values:
                errors.append(
                    _error(
                        "E016",
                        f"{where}['SPACE'][{name!r}][{param!r}] must be a non-empty list.",
                    )
                )
    return errors


def register() -> None:
    """Register the checks with Django (called from ``AppConfig.ready``)."""
    checks.register(check_settings)
