"""The settings of the recommendations app, read from one ``RECOMMENDATIONS`` dict.

Every key is a typed property with a default, read from ``django.conf.settings``. What
the read path needs on every request (catalog fields and orders, event sources, rules,
timeouts, the adapter) is kept once read, as read-only values (tuples, frozensets,
read-only mappings), so a request reads an attribute instead of parsing the setting
again. The kept values are dropped when the setting changes: ``override_settings`` (the
``setting_changed`` signal, see :mod:`recommendations.receivers`) or another
``RECOMMENDATIONS`` object (:meth:`AppSettings.refresh`, once per block), so tests that
change the setting see the change; a setting changed in place is not followed (Django
settings are not changed at run time). Other keys are re-read on each access.
Only ``CATALOG["MODEL"]`` and ``EVENT_SOURCES`` have no default: they tie the app to
the host project's models.

Example (the demo store)::

    RECOMMENDATIONS = {
        "CATALOG": {"MODEL": "shop.Product", "AVAILABLE": {"is_active": True}},
        "EVENT_SOURCES": [
            {"NAME": "purchase", "MODEL": "shop.OrderLine", "USER_FIELD": "order__user",
             "ITEM_FIELD": "product", "TIME_FIELD": "created_at", "WEIGHT": 1.0,
             "GROUP_FIELD": "order"},
        ],
        "ALGORITHMS": {"popularity": {}, "item_knn": {"k": 50}},
        # Optional: who follows whom, for the social models (off when absent).
        "SOCIAL": {"MODEL": "shop.Follow", "FOLLOWER_FIELD": "follower",
                   "FOLLOWED_FIELD": "followed", "TIME_FIELD": "created_at",
                   # Optional, from the user: who lets followers see their activity
                   # by name, and that name (without both, reasons give counts only).
                   "SHARING_FIELD": "profile__shares_activity",
                   "DISPLAY_NAME_FIELD": "profile__display_name"},
    }
"""

from __future__ import annotations

import copy
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy

#: The ``STORAGES`` alias of the artifacts; a private folder when the project has none.
DEFAULT_ARTIFACT_STORAGE = "recommendations"
DEFAULT_ALGORITHMS: dict[str, dict[str, Any]] = {"popularity": {}, "item_knn": {}}
#: Trained besides the defaults when ``SOCIAL`` names a relation and ``ALGORITHMS`` is unset;
#: the selection and the holdout pick among them as among the others.
DEFAULT_SOCIAL_ALGORITHMS: dict[str, dict[str, Any]] = {"social_rerank": {}, "social_mf": {}}
METRICS = ("ndcg", "recall", "coverage")
DEFAULT_THROTTLE_RATES: dict[str, str | None] = {"anon": "120/min", "user": "600/min"}
#: What the nightly model selection may vary around each candidate's parameters: EASE's
#: L2, item-kNN's neighbours and shrinkage, SVD's rank, the recency half-life of a known
#: user's history, the blend's components and validation targets, and how the social
#: blend holds pairs out to learn its weights (see recommendations.selection).
BLEND_COMPONENTS_WITH_SVD = [
    ["ease", {"recency_half_life_days": 120.0, "max_history": 100}],
    ["item_knn", {"recency_half_life_days": 120.0}],
    ["svd", {"recency_half_life_days": 120.0}],
    ["trending", {}],
]
BLEND_COMPONENTS_EASE_ONLY = [
    ["ease", {"recency_half_life_days": 120.0, "max_history": 100}],
    ["trending", {}],
]
DEFAULT_SELECTION_SPACE: dict[str, dict[str, list[Any]]] = {
    # Numeric values are grids walked from the configured value while they improve
    # (see recommendations.selection): wide ones cost only where the data asks for them.
    "ease": {
        # First: the weights do not depend on it, so the solves of the configured
        # candidate (still in the fit cache) are reused and only the scoring is redone;
        # tried after l2 it needed new solves and the budget could end before it.
        "max_history": [100, 400, 800],
        "l2": [50.0, 100.0, 250.0, 1000.0, 2000.0, 4000.0],
        "recency_half_life_days": [120.0],
    },
    "item_knn": {"k": [25, 50, 200, 400], "shrinkage": [10.0], "recency_half_life_days": [120.0]},
    "svd": {"factors": [32, 64, 128, 256], "recency_half_life_days": [120.0]},
    "blend": {
        "components": [BLEND_COMPONENTS_WITH_SVD, BLEND_COMPONENTS_EASE_ONLY],
        "new_items_only": [False],
    },
    "social_blend": {"validation": ["time", "per_user"]},
    "social_rerank": {"validation": ["time", "per_user"]},
}
#: Values of ``TRAINING_RUNNER``.
TRAINING_RUNNERS = ("celery", "process")

#: What an event source means to serving. ``purchase``: its items count as already had
#: (not recommended again, outside repeat-purchase categories) and as conversions;
#: ``view``: its items are the shopper's recently viewed ones. Other sources are signal.
PURCHASE = "purchase"
VIEW = "view"
ROLES = (PURCHASE, VIEW)


@dataclass(frozen=True)
class EventSource:
    """One host model whose rows are (user, item, time, weight) events.

    ``role`` (``ROLE``) is ``"purchase"``, ``"view"`` or None (see :data:`ROLES`);
    ``verb`` (``VERB``) words its reasons, "Because you <verb> X"; ``group_field``
    (``GROUP_FIELD``, e.g. ``"order"`` for order lines) puts the events of one order in
    one basket for "bought together" (without it, a user's purchases less than a
    minute apart are one basket).
    """

    name: str
    model: str
    user_field: str
    item_field: str
    time_field: str
    weight: float = 1.0
    value_field: str | None = None
    value_map: dict[str, float] | None = None
    filter: dict[str, Any] = field(default_factory=dict)
    role: str | None = None
    verb: str | None = None
    group_field: str | None = None

    @classmethod
    def from_setting(cls, position: int, raw: dict[str, Any]) -> EventSource:
        """Build a source from one ``EVENT_SOURCES`` entry; raise ImproperlyConfigured if bad."""
        if not isinstance(raw, dict):
            raise ImproperlyConfigured(
                f"RECOMMENDATIONS['EVENT_SOURCES'][{position}] must be a dict, got {raw!r}."
            )
        missing = [
            key for key in ("MODEL", "USER_FIELD", "ITEM_FIELD", "TIME_FIELD") if key not in raw
        ]
        if missing:
            raise ImproperlyConfigured(
                f"RECOMMENDATIONS['EVENT_SOURCES'][{position}] lacks {', '.join(missing)}."
            )
        value_map = raw.get("VALUE_MAP")
        name = str(raw.get("NAME") or raw["MODEL"])
        # Without a ROLE, a source named "purchase" or "view" plays that role.
        role = raw.get("ROLE", name if name in ROLES else None)
        if role is not None and role not in ROLES:
            raise ImproperlyConfigured(
                f"RECOMMENDATIONS['EVENT_SOURCES'][{position}]['ROLE'] must be one of "
                f"{', '.join(map(repr, ROLES))} or None, got {role!r}."
            )
        verb = raw.get("VERB")
        if verb is not None and (not isinstance(verb, str) or not verb.strip()):
            raise ImproperlyConfigured(
                f"RECOMMENDATIONS['EVENT_SOURCES'][{position}]['VERB'] must be a non-empty "
                f"string, got {verb!r}."
            )
        return cls(
            name=name,
            model=raw["MODEL"],
            user_field=raw["USER_FIELD"],
            item_field=raw["ITEM_FIELD"],
            time_field=raw["TIME_FIELD"],
            weight=raw.get("WEIGHT", 1.0),
            value_field=raw.get("VALUE_FIELD"),
            value_map=None if value_map is None else {str(k): v for k, v in value_map.items()},
            filter=dict(raw.get("FILTER") or {}),
            role=role,
            verb=verb,
            group_field=raw.get("GROUP_FIELD"),
        )


@dataclass(frozen=True)
class SocialRelation:
    """The host model whose rows say that one user follows (trusts, befriended) another.

    ``mutual`` (``MUTUAL``): a row relates both users (friends), not only the follower
    to the followed; ``weight_field`` (``WEIGHT_FIELD``) weighs a relation (default 1);
    ``time_field`` (``TIME_FIELD``) dates it, so a model evaluated on the past only
    sees the relations of the past. ``sharing_field`` (``SHARING_FIELD``) and
    ``display_name_field`` (``DISPLAY_NAME_FIELD``) are lookups from the user model: a
    followed user whose sharing field is true is named in social reasons by that name;
    without both, nobody is named and reasons give counts of at least 2 only.
    """

    model: str
    follower_field: str
    followed_field: str
    weight_field: str | None = None
    time_field: str | None = None
    mutual: bool = False
    sharing_field: str | None = None
    display_name_field: str | None = None
    # Whether people who do not share are counted ("Bought by 3 people you follow", at
    # least 2). A count is over people the shopper chose to follow, so one who follows
    # a person and accounts of their own can learn that person's purchases from it;
    # False tells of sharers only (COUNT_NON_SHARING).
    count_non_sharing: bool = True

    @property
    def names_people(self) -> bool:
        """Whether reasons may name the followed users who share their activity."""
        return bool(self.sharing_field and self.display_name_field)

    @classmethod
    def from_setting(cls, raw: Any) -> SocialRelation:
        """Build the relation from ``RECOMMENDATIONS["SOCIAL"]``; raise ImproperlyConfigured."""
        where = "RECOMMENDATIONS['SOCIAL']"
        if not isinstance(raw, dict):
            raise ImproperlyConfigured(f"{where} must be a dict, got {raw!r}.")
        missing = [key for key in ("MODEL", "FOLLOWER_FIELD", "FOLLOWED_FIELD") if key not in raw]
        if missing:
            raise ImproperlyConfigured(f"{where} lacks {', '.join(missing)}.")
        unknown = set(raw) - {
            "MODEL", "FOLLOWER_FIELD", "FOLLOWED_FIELD", "WEIGHT_FIELD", "TIME_FIELD", "MUTUAL",
            "SHARING_FIELD", "DISPLAY_NAME_FIELD", "COUNT_NON_SHARING",
        }  # fmt: skip
        if unknown:
            raise ImproperlyConfigured(f"{where} has unknown key(s) {', '.join(sorted(unknown))}.")
        for key, default in (("MUTUAL", False), ("COUNT_NON_SHARING", True)):
            value = raw.get(key, default)
            if not isinstance(value, bool):
                message = f"{where}[{key!r}] must be True or False, got {value!r}."
                raise ImproperlyConfigured(message)
        return cls(
            model=raw["MODEL"],
            follower_field=raw["FOLLOWER_FIELD"],
            followed_field=raw["FOLLOWED_FIELD"],
            weight_field=raw.get("WEIGHT_FIELD"),
            time_field=raw.get("TIME_FIELD"),
            mutual=raw.get("MUTUAL", False),
            sharing_field=raw.get("SHARING_FIELD"),
            display_name_field=raw.get("DISPLAY_NAME_FIELD"),
            count_non_sharing=raw.get("COUNT_NON_SHARING", True),
        )


class _kept(functools.cached_property):
    """A setting kept on the instance once read: later reads are plain attribute reads."""


def lookup_list(value: Any) -> list[str]:
    """A lookup or a list of them as a list (a non-string entry is left to the checks)."""
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


class AppSettings:
    """Typed accessors for ``settings.RECOMMENDATIONS``."""

    # The RECOMMENDATIONS object the kept values were read from.
    _kept_from: Any = None

    def refresh(self) -> None:
        """Drop the kept values when ``settings.RECOMMENDATIONS`` is another object now."""
        if getattr(settings, "RECOMMENDATIONS", None) is not self._kept_from:
            self.reload()

    def reload(self) -> None:
        """Drop every kept value: the next reads read the setting again."""
        for name in [name for name in vars(self) if isinstance(vars(type(self)).get(name), _kept)]:
            del self.__dict__[name]
        self._kept_from = getattr(settings, "RECOMMENDATIONS", None)

    @_kept
    def fingerprint(self) -> str:
        """A short digest of the whole setting: names what was computed under this value.

        Stable across processes (a shared cache's lists carry it); kept, so a request
        does not turn the setting into text again.
        """
        text = repr(getattr(settings, "RECOMMENDATIONS", None))
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()

    def _setting(self, name: str, default: Any) -> Any:
        return getattr(settings, "RECOMMENDATIONS", {}).get(name, default)

    def _catalog(self, name: str, default: Any) -> Any:
        return (self._setting("CATALOG", {}) or {}).get(name, default)

    # -- the catalog ------------------------------------------------------------

    @_kept
    def CATALOG_MODEL(self) -> str:
        """App label of the item model, e.g. ``"shop.Product"`` (required)."""
        label = self._catalog("MODEL", None)
        if not label:
            raise ImproperlyConfigured("RECOMMENDATIONS['CATALOG']['MODEL'] is not set.")
        return label

    @_kept
    def CATALOG_AVAILABLE(self) -> Mapping[str, Any]:
        """Filter kwargs selecting the items that may be shown (default: all); read-only."""
        return MappingProxyType(dict(self._catalog("AVAILABLE", {}) or {}))

    @_kept
    def CATEGORY_FIELD(self) -> str | None:
        """Lookup of the item's category (diversity, repeat purchases, trending by category).

        May cross foreign keys, many-to-many and reverse relations (``"categories"``): an
        item with several gets the first by ``CATEGORY_ORDER``; ending at related rows,
        their key is the category key and ``CATEGORY_LABEL_FIELD`` (or ``str()``) its name.
        """
        return self._catalog("CATEGORY_FIELD", None)

    @_kept
    def CATEGORY_ORDER(self) -> tuple[str, ...]:
        """Catalog lookups ordering an item's categories when it has several; the first counts.

        Empty: the category model's ``Meta.ordering`` (else its key) decides.
        """
        return tuple(lookup_list(self._catalog("CATEGORY_ORDER", None)))

    @_kept
    def CATEGORY_LABEL_FIELD(self) -> str | None:
        """Lookup, on the category model, of a category's display name; ``None``: ``str()``."""
        return self._catalog("CATEGORY_LABEL_FIELD", None)

    @_kept
    def LABEL_FIELD(self) -> str | None:
        """Lookup of the item's display name; ``None`` uses ``str(item)``.

        May cross relations; with several values per item, the first by ``LABEL_ORDER``.
        """
        return self._catalog("LABEL_FIELD", None)

    @property
    def TEXT_FIELDS(self) -> list[str]:
        """Lookups whose text describes an item (content features)."""
        return list(self._catalog("TEXT_FIELDS", []) or [])

    @_kept
    def PRICE_FIELD(self) -> str | None:
        """Lookup of the item's price (cards, content features); ``None`` to ignore prices.

        May cross relations (``"stockrecords__price"``): with several values per item,
        the first by ``PRICE_ORDER``, by default the lowest.
        """
        return self._catalog("PRICE_FIELD", None)

    @_kept
    def PRICE_ORDER(self) -> tuple[str, ...]:
        """Catalog lookups ordering an item's prices when it has several; empty: the lowest."""
        return tuple(lookup_list(self._catalog("PRICE_ORDER", None)))

    @_kept
    def LABEL_ORDER(self) -> tuple[str, ...]:
        """Catalog lookups ordering an item's labels when it has several; empty: by the label."""
        return tuple(lookup_list(self._catalog("LABEL_ORDER", None)))

    # -- users and events ---------------------------------------------------------

    @property
    def USER_FEATURES(self) -> dict[str, str]:
        """Feature name -> user lookup (``"COUNTRY": "profile__country"``); birth years bin."""
        return dict(self._setting("USER_FEATURES", {}) or {})

    @_kept
    def CONSENT_FIELD(self) -> str | None:
        """User lookup of a boolean consent to personalisation; ``None``: everyone consents."""
        return self._setting("CONSENT_FIELD", None)

    @_kept
    def EVENT_SOURCES(self) -> tuple[EventSource, ...]:
        """The host models read as events (required, at least one)."""
        raw = self._setting("EVENT_SOURCES", None)
        if not raw:
            raise ImproperlyConfigured("RECOMMENDATIONS['EVENT_SOURCES'] is not set or empty.")
        if not isinstance(raw, list | tuple):
            raise ImproperlyConfigured("RECOMMENDATIONS['EVENT_SOURCES'] must be a list.")
        return tuple(EventSource.from_setting(i, entry) for i, entry in enumerate(raw))

    @_kept
    def _names_by_role(self) -> Mapping[str, tuple[str, ...]]:
        return MappingProxyType(
            {
                role: tuple(source.name for source in self.EVENT_SOURCES if source.role == role)
                for role in ROLES
            }
        )

    def source_names(self, role: str) -> list[str]:
        """Names of the event sources that play ``role`` (``PURCHASE`` or ``VIEW``)."""
        return list(self._names_by_role.get(role, ()))

    @_kept
    def SOCIAL(self) -> SocialRelation | None:
        """Who follows whom (``SOCIAL``), for the social models; None: the feature is off."""
        raw = self._setting("SOCIAL", None)
        return None if raw is None else SocialRelation.from_setting(raw)

    @_kept
    def HALF_LIFE_DAYS(self) -> float | None:
        """Age in days at which an event counts half when training; ``None``: no decay."""
        return self._setting("HALF_LIFE_DAYS", 180)

    @property
    def TRENDING_HALF_LIFE_DAYS(self) -> float:
        """Half-life of the decay behind the trending list."""
        return self._setting("TRENDING_HALF_LIFE_DAYS", 14)

    # -- resistance to fake accounts (poisoning) ------------------------------------------

    def _trust(self, name: str, default: Any) -> Any:
        return (self._setting("TRUST", {}) or {}).get(name, default)

    @property
    def TRUST_ENABLED(self) -> bool:
        """Bound what one account adds to item statistics (off: every event counts fully)."""
        return self._trust("ENABLED", True)

    @property
    def TRUST_NO_PURCHASE_WEIGHT(self) -> float:
        """How much an account without a purchase counts in popularity and trending (0 to 1).

        Such accounts teach the co-occurrence models nothing: those weigh every user alike.
        """
        return self._trust("NO_PURCHASE_WEIGHT", 0.1)

    @property
    def TRUST_MIN_SUPPORT(self) -> float:
        """Distinct (trusted) users an item needs to trend, and a pair to be "similar";
        (trusted) baskets a pair needs to be "bought together"."""
        return self._trust("MIN_SUPPORT", 3)

    @property
    def TRUST_MAX_ITEMS_PER_USER(self) -> int:
        """Items one account counts fully for in popularity and trending; more share that."""
        return self._trust("MAX_ITEMS_PER_USER", 100)

    @property
    def TRUST_REPORT_DAYS(self) -> int:
        """Length of the periods compared by the staff report of jumps from new accounts."""
        return self._trust("REPORT_DAYS", 7)

    # -- training -------------------------------------------------------------------

    @property
    def ALGORITHMS(self) -> dict[str, dict[str, Any]]:
        """Registry name of each personal recommender trained -> its hyper-parameters.

        By default popularity and item-kNN, and the social blend and the social
        factorisation when ``SOCIAL`` is set.
        """
        algorithms = self._setting("ALGORITHMS", None)
        if algorithms is None:
            social = DEFAULT_SOCIAL_ALGORITHMS if self._setting("SOCIAL", None) else {}
            return copy.deepcopy({**DEFAULT_ALGORITHMS, **social})
        return dict(algorithms or {})

    @property
    def SIMILAR_ALGORITHM(self) -> str:
        """Registry name of the item-to-item recommender behind "similar products".

        The default, ``similar_blend``, ranks look-alikes (content) that the same
        customers buy (item-kNN): alternatives, where "bought together" (baskets,
        ``cooccurrence``) ranks complements.
        """
        return self._setting("SIMILAR_ALGORITHM", "similar_blend")

    @property
    def SIMILAR_PARAMS(self) -> dict[str, Any]:
        """Hyper-parameters of the similar-items recommender."""
        return dict(self._setting("SIMILAR_PARAMS", {}) or {})

    @property
    def BOUGHT_TOGETHER_PARAMS(self) -> dict[str, Any]:
        """Hyper-parameters of the "bought together" recommender (``cooccurrence``)."""
        return dict(self._setting("BOUGHT_TOGETHER_PARAMS", {}) or {})

    def _promotion(self, name: str, default: Any) -> Any:
        return (self._setting("PROMOTION", {}) or {}).get(name, default)

    @property
    def PROMOTION_METRIC(self) -> str:
        """Holdout metric that picks the version to serve: ndcg, recall or coverage."""
        return self._promotion("METRIC", "ndcg")

    @property
    def HOLDOUT_DAYS(self) -> float:
        """The last days of events held out to evaluate each algorithm."""
        return self._promotion("HOLDOUT_DAYS", 30)

    @property
    def MIN_IMPROVEMENT(self) -> float:
        """How much a new version must beat the active one on the metric to replace it."""
        return self._promotion("MIN_IMPROVEMENT", 0.0)

    @property
    def MIN_USERS(self) -> int:
        """Holdout users a new version must be evaluated on before it may replace the active one.

        Fewer, and one shopper's luck would decide what everyone is shown: the run is
        kept, and the admin says why.
        """
        return self._promotion("MIN_USERS", 50)

    @property
    def AUTO_PROMOTE(self) -> bool:
        """Promote the best new version automatically after training."""
        return self._promotion("AUTO_PROMOTE", True)

    # -- model selection on validation folds before the holdout -----------------------

    def _selection(self, name: str, default: Any) -> Any:
        return (self._setting("SELECTION", {}) or {}).get(name, default)

    @property
    def SELECTION_ENABLED(self) -> bool:
        """Choose the configuration to serve on validation folds carved before the holdout."""
        return self._selection("ENABLED", True)

    @property
    def SELECTION_TIME_BUDGET_SECONDS(self) -> float:
        """CPU seconds the search may spend (of the training process, every BLAS thread
        counted); no candidate of the space starts after them. CPU time, not wall time:
        a machine busy with other work must not shrink the search."""
        return self._selection("TIME_BUDGET_SECONDS", 30)

    @property
    def SELECTION_TIME_BUDGET_SHARE(self) -> float:
        """The search may also spend this share of the CPU seconds the configured
        candidates took (whichever is more): a larger shop, whose evaluations cost
        more, gets as many of them as a small one (0: the seconds alone)."""
        return self._selection("TIME_BUDGET_SHARE", 0.5)

    @property
    def SELECTION_MAX_EVALUATIONS(self) -> int | None:
        """At most this many candidates are evaluated (``None``: the time budget decides)."""
        return self._selection("MAX_EVALUATIONS", None)

    @property
    def SELECTION_FOLDS(self) -> int:
        """Validation folds, one period (or block of each user's events) before the other."""
        return self._selection("FOLDS", 2)

    @property
    def SELECTION_FOLD_DAYS(self) -> float:
        """Length of a time-forward fold in days (default: ``HOLDOUT_DAYS``)."""
        return self._selection("FOLD_DAYS", None) or self.HOLDOUT_DAYS

    @property
    def SELECTION_MIN_USERS(self) -> int:
        """Users a fold must score; fewer and it is not used."""
        return self._selection("MIN_USERS", 20)

    @property
    def SELECTION_MAX_USERS(self) -> int:
        """Users scored per fold at most (a fixed sample of a large shop's buyers)."""
        return self._selection("MAX_USERS", 2000)

    @property
    def SELECTION_USER_SHARE(self) -> float:
        """Share of each user's events a per-user fold holds out (when times say nothing)."""
        return self._selection("USER_SHARE", 0.2)

    @property
    def SELECTION_SPACE(self) -> dict[str, dict[str, list[Any]]]:
        """Algorithm -> parameter -> values the search tries around the candidate's own.

        Every algorithm trained (``ALGORITHMS``) is a candidate at its configured
        parameters; the search varies them one at a time through these values.
        """
        space = self._selection("SPACE", DEFAULT_SELECTION_SPACE)
        return copy.deepcopy(dict(space or {}))

    @property
    def EVALUATION_SOURCES(self) -> list[str]:
        """Event sources whose holdout items count as hits.

        Default: the purchase sources (``ROLE`` ``"purchase"``), else the first source.
        """
        names = self._promotion("EVALUATION_SOURCES", None)
        if names is None:
            return self.source_names(PURCHASE) or [self.EVENT_SOURCES[0].name]
        return list(names)

    @property
    def EVALUATION_K(self) -> int:
        """Length of the ranked lists the holdout metrics are computed on."""
        return self._setting("EVALUATION_K", 20)

    # -- serving ----------------------------------------------------------------------

    @_kept
    def REPEAT_PURCHASE_CATEGORIES(self) -> frozenset[str]:
        """Category keys whose items may be recommended again after a purchase."""
        return frozenset(str(key) for key in self._setting("REPEAT_PURCHASE_CATEGORIES", []) or [])

    @_kept
    def MAX_PER_CATEGORY(self) -> int | None:
        """At most this many items of one category in a list; ``None``: no limit."""
        return self._setting("MAX_PER_CATEGORY", 3)

    @_kept
    def CACHE_TIMEOUT(self) -> int:
        """Seconds a computed recommendation list stays in the cache."""
        return self._setting("CACHE_TIMEOUT", 300)

    @_kept
    def RELOAD_INTERVAL(self) -> float:
        """Seconds between two checks of each process for a newly promoted version."""
        return self._setting("RELOAD_INTERVAL", 5)

    @_kept
    def NEAR_CACHE(self) -> bool:
        """Whether each process keeps the few values every list reads, told by Redis when
        they change (``recommendations.serving.near_cache``; Django's Redis backend, and
        its local-memory cache, which only the process itself writes).
        """
        return bool(self._setting("NEAR_CACHE", True))

    @_kept
    def USER_LIST_LENGTH(self) -> int:
        """Items of each training user's personal list computed at training time.

        Stored in the artifact: a known shopper whose history did not change since the
        training is served from it, without scoring. 0 turns it off (every list is
        scored at request time). Lists longer than this allows are scored then too.
        """
        return self._setting("USER_LIST_LENGTH", 100)

    @_kept
    def HISTORY_TIMEOUT(self) -> float | None:
        """Seconds a shopper's cached history is trusted before it is read again.

        None (default): ``RELOAD_INTERVAL`` with a local-memory cache, ``CACHE_TIMEOUT``
        with a shared one (see ``recommendations.serving.history.history_timeout``).
        """
        return self._setting("HISTORY_TIMEOUT", None)

    @_kept
    def API_AUTHENTICATION_CLASSES(self) -> tuple[str, ...]:
        """Dotted paths of the API's authentication classes (default: Django sessions).

        The app's own, whatever the host's ``REST_FRAMEWORK`` says, so a host with token
        or no authentication configured still gets a working API.
        """
        return tuple(
            self._setting(
                "API_AUTHENTICATION_CLASSES",
                ["rest_framework.authentication.SessionAuthentication"],
            )
        )

    @_kept
    def API_THROTTLE_CLASSES(self) -> tuple[str, ...]:
        """Dotted paths of the API's throttles (default: the app's counter of each request
        once, per user or per client address; ``AnonThrottle`` and ``UserThrottle`` are
        DRF's pair on the same counters)."""
        return tuple(
            self._setting("API_THROTTLE_CLASSES", ["recommendations.api.throttles.ClientThrottle"])
        )

    @_kept
    def API_THROTTLE_RATES(self) -> Mapping[str, str | None]:
        """Requests per scope (``anon``, ``user``), e.g. ``"120/min"``; None: no limit.

        ``API_THROTTLE_RATES`` here wins, then the host's ``REST_FRAMEWORK``
        ``DEFAULT_THROTTLE_RATES`` for the same scope, then 120/min anonymous and 600/min
        signed in: a host that configured no rates is still protected.
        """
        host = getattr(settings, "REST_FRAMEWORK", {}).get("DEFAULT_THROTTLE_RATES") or {}
        rates = {**DEFAULT_THROTTLE_RATES, **host, **self._setting("API_THROTTLE_RATES", {})}
        return MappingProxyType(rates)

    @property
    def NUM_PROXIES(self) -> int:
        """Reverse proxies in front of the site whose ``X-Forwarded-For`` is trusted.

        0 (default): the header is ignored and a client is its ``REMOTE_ADDR``; set it
        only when every request comes through that many proxies that each append to the
        header (see :mod:`recommendations.clients`).
        """
        return self._setting("NUM_PROXIES", 0)

    # -- click-through and experiments ---------------------------------------------------

    @_kept
    def TRACK_IMPRESSIONS(self) -> bool:
        """Record what each rendered block showed (one insert per block) and the clicks."""
        return self._setting("TRACK_IMPRESSIONS", True)

    @property
    def CONVERSION_DAYS(self) -> float:
        """Days after a click within which buying the clicked item counts as a conversion."""
        return self._setting("CONVERSION_DAYS", 7)

    @property
    def CONVERSION_SOURCES(self) -> list[str]:
        """Event sources that are purchases, for conversions (default: EVALUATION_SOURCES)."""
        names = self._setting("CONVERSION_SOURCES", None)
        return self.EVALUATION_SOURCES if names is None else list(names)

    @property
    def PREVIEW_PAGES(self) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """Pages the admin preview composes: title -> (template tag name, its kwargs) in order.

        Blocks of a page leave out what earlier blocks showed, so the preview renders them
        in the storefront's order. Pages with a product-page tag need a product.
        """
        default = {
            gettext_lazy("Home page"): [
                ("recently_viewed", {"n": 4}),
                ("recommended_for_you", {"n": 8}),
                ("popular_with_followed", {"n": 4}),
                ("trending_products", {"n": 8}),
            ],
            gettext_lazy("Product page"): [
                ("similar_products", {"n": 4}),
                ("bought_together", {"n": 4}),
                ("recommended_for_you", {"n": 4}),
            ],
        }
        pages = self._setting("PREVIEW_PAGES", default) or {}
        return {
            title: [(tag, dict(kwargs)) for tag, kwargs in tags] for title, tags in pages.items()
        }

    @_kept
    def ADAPTER(self) -> str:
        """Dotted path of the adapter class that reads the host project's models."""
        return self._setting("ADAPTER", "recommendations.adapters.SettingsAdapter")

    @_kept
    def adapter(self) -> Any:
        """The one instance of the ``ADAPTER`` class for this value of the setting.

        What it resolves (the catalog model, lookups, compiled statements) lives as long
        as it does: a new value of the setting drops it with the other kept values.
        """
        return import_string(self.ADAPTER)()

    @property
    def ARTIFACT_STORAGE(self) -> str:
        """Alias in ``settings.STORAGES`` where trained artifacts are written.

        The default alias, ``"recommendations"``, need not be defined in
        ``settings.STORAGES``: without it artifacts are files under ``ARTIFACT_ROOT``.
        An artifact holds every shopper's history: never name a storage the web server
        serves, such as ``"default"`` under ``MEDIA_ROOT`` (``recommendations.W001``).
        """
        return self._setting("ARTIFACT_STORAGE", DEFAULT_ARTIFACT_STORAGE)

    @property
    def ARTIFACT_ROOT(self) -> Path | None:
        """The private folder of the artifacts when ``STORAGES`` lacks the default alias.

        Defaults to ``BASE_DIR / "var"`` (``BASE_DIR`` as ``startproject`` defines it),
        so the files are ``var/recommendations/run-*.npz``; None if there is no
        ``BASE_DIR`` (``recommendations.E012``). Keep it out of ``MEDIA_ROOT``.
        """
        root = self._setting("ARTIFACT_ROOT", None)
        if root is None:
            base = getattr(settings, "BASE_DIR", None)
            return None if base is None else Path(base) / "var"
        return Path(root)

    @property
    def ARTIFACT_PATH(self) -> str:
        """Folder of the artifacts inside that storage."""
        return self._setting("ARTIFACT_PATH", "recommendations/")

    @property
    def ARTIFACT_KEEP(self) -> int | None:
        """Succeeded runs, besides the serving ones, whose artifacts are kept for rollback.

        After each training the artifacts of older runs are deleted (their rows, metrics
        and charts stay); ``None`` keeps every artifact.
        """
        return self._setting("ARTIFACT_KEEP", 10)

    @property
    def TRAINING_LOCK_TIMEOUT(self) -> int:
        """Seconds after which a training's lock expires, even with a live heartbeat."""
        return self._setting("TRAINING_LOCK_TIMEOUT", 3600)

    @property
    def TRAINING_LOCK_STALE_AFTER(self) -> float:
        """Seconds without a heartbeat after which the lock of a dead training is taken over.

        A training refreshes its lock every quarter of this; a holder process that is
        gone from this machine loses the lock at once.
        """
        return self._setting("TRAINING_LOCK_STALE_AFTER", 120)

    @property
    def TRAINING_RUNNER(self) -> str:
        """Where a training queued from the admin runs: ``"celery"`` or ``"process"``.

        ``"celery"`` (the default) sends the task to the Celery workers. ``"process"``
        starts ``manage.py train_recommendations`` as a process of its own, for projects
        without a broker: with Celery's eager mode the admin request would train itself.
        """
        return self._setting("TRAINING_RUNNER", "celery")

    @property
    def TRAINING_SOFT_TIME_LIMIT(self) -> int:
        """Seconds after which the Celery task is asked to stop (the run is then failed)."""
        return self._setting("TRAINING_SOFT_TIME_LIMIT", 3000)

    @property
    def TRAINING_TIME_LIMIT(self) -> int:
        """Seconds after which the Celery worker kills the training task."""
        return self._setting("TRAINING_TIME_LIMIT", 3300)


app_settings = AppSettings()
