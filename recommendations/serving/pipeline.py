"""The one pipeline every block runs: inputs, cached list or layers, rules, assembly, cache.

A block is declared once as a :class:`BlockSpec` (in :mod:`recommendations.selectors`)
and run by :func:`block_run` with the shopper's :class:`BlockRequest`:

1. the block's rules, the catalog's change times and the shopper's generation and
   history head, read from the cache in one call;
2. the cached list named by everything it depends on, when still available;
3. otherwise the spec's layers in order (:mod:`.candidates`), the business rules
   across them, the instances and reasons (:mod:`.assembly`), and the list cached.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

from recommendations.adapters import SettingsAdapter, get_adapter
from recommendations.conf import app_settings
from recommendations.experiments import model_for_user
from recommendations.rules import RULES_VERSION_KEY, BlockRules, Filters, RuleSet, rules_current
from recommendations.serving.assembly import (
    DEFAULT_REASONS,
    Recommendation,
    recommendations_assemble,
)
from recommendations.serving.cache import list_get, list_name, list_set
from recommendations.serving.candidates import (
    RECENTLY_VIEWED,
    Inputs,
    candidates_choose,
    category_pks,
    engine_blocked,
    layers_build,
    overfetch,
)
from recommendations.serving.catalog import (
    Catalog,
    CatalogChanges,
    catalog_current,
    catalog_prepare,
)
from recommendations.serving.history import HISTORY_LIMIT, History, is_user
from recommendations.serving.keys import (
    AVAILABILITY_CHANGED_KEY,
    CATALOG_CHANGED_KEY,
    FEATURES_CACHE_NAME,
    SOCIAL_CHANGED_KEY,
    UserCache,
    user_generation_key,
    user_head_key,
)
from recommendations.serving.loading import ServingModel
from recommendations.serving.near_cache import near_cache
from recommendations.serving.social import NOBODY, circle_of, followers_current, follows_anyone

logger = logging.getLogger(__name__)

DEFAULT_N = 8
MAX_N = 100


@dataclass(frozen=True)
class BlockSpec:
    """A block of recommendations, declared: what it ranks, how it is cached and explained."""

    # The block's name: its rules (ItemRule.block), its cache entries, its impressions.
    block: str
    # The layer sources that fill the list, in order (see candidates.LAYER_BUILDERS).
    layers: tuple[str, ...]
    # Named by the shopper's whole history (a new view changes it), or by what they
    # bought only (all that the other blocks leave out).
    personal: bool = False
    # The request's inputs that name the cached list besides the block, run, rules and
    # history: any of "n", "exclude", "category", "session", "anchors", "viewed".
    key_parts: tuple[str, ...] = ("n", "exclude")
    # The ServingModel attributes an item-to-item layer ranks with: the first one the
    # loaded model has is used (a basket model when trained, else the similar items).
    item_to_item: tuple[str, ...] = ("similar",)
    # How each layer's items are explained (layer source -> assembly reason policy).
    reasons: Mapping[str, str] = field(default_factory=lambda: DEFAULT_REASONS)
    # Whether the catalog tops the list up when its layers run dry. A block that means
    # something specific (similar, bought together, recently viewed) lists what it means
    # or nothing: it is never filled with other items, and pins join its items rather
    # than stand in for them.
    top_up: bool = True
    # Whether items the shopper bought are listed (their own views: bought or not).
    shows_bought: bool = False
    # Whether MAX_PER_CATEGORY applies. Not to alternatives to one product (of its
    # category by nature), nor to what the shopper viewed.
    category_cap: bool = True
    # Whether the merchandisers' pins apply (their excludes always do).
    pinned: bool = True


@dataclass(frozen=True)
class BlockRequest:
    """One shopper's request for a block."""

    user: Any = None
    n: Any = DEFAULT_N
    exclude: Iterable[Any] = ()
    category: Any = None
    session_item_pks: Sequence[Any] = ()
    # Items the list is about (the product on screen, the cart): never listed.
    anchors: Sequence[Any] = ()
    # The shopper's history when the caller read it already (shopper_history).
    history: History | None = None
    # What the blocks of the page read first, when an earlier block read it (page_read).
    page: PageRead | None = None


def check_n(n: Any) -> int:
    """``n`` as an int in 1..MAX_N, or a ValueError."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise ValueError(f"n must be an integer from 1 to {MAX_N}, got {n!r}.")
    return n


def shopper_history(*, user: Any) -> History:
    """The shopper's own recent events, read once and shared by the blocks of a page."""
    return History.of(get_adapter(), user, model_for_user(user))


@dataclass(frozen=True)
class PageRead:
    """What every list reads first, from the cache in one call: shared by a page's blocks."""

    history: History
    # The model that serves the shopper (experiments.model_for_user), looked up once.
    model: ServingModel | None
    # The merchandisers' rules of every block, of the version in force.
    rules: RuleSet
    # When the catalog last changed (services.catalog_changed).
    catalog_changes: CatalogChanges
    # The adapter of the setting in force when the page was read: its blocks use it.
    adapter: SettingsAdapter
    # When the follows last changed (services.social_changed; 0: never, or no relation
    # configured). Only a list computed afresh needs it; read with the rest, it costs a
    # key in the same call (none with a near cache) instead of a round trip of its own.
    social_changed_at: float = 0.0
    # Whether the shopper is signed in (has a history and a cache of their own).
    signed_in: bool = False


def page_read(*, user: Any, history: History | None = None) -> PageRead:
    """The shopper's history and model, the rules, and when the catalog (and, with
    ``SOCIAL``, the follows) changed.

    Every list needs them first: they are read from the cache in one call with the
    shopper's generation and history head (one round trip to a shared cache; none while
    Redis did not say they changed, :mod:`.near_cache`). The blocks
    of one page share one read (``BlockRequest.page``); ``history`` when read already.
    """
    adapter, model = get_adapter(), model_for_user(user)
    keys = [RULES_VERSION_KEY, CATALOG_CHANGED_KEY, AVAILABILITY_CHANGED_KEY]
    if app_settings.SOCIAL is not None:
        keys.append(SOCIAL_CHANGED_KEY)
    signed_in = is_user(user)
    read_head = history is None and signed_in
    if read_head:
        pk = user.pk  # once: a request's user is a lazy object, each read goes through it
        user_keys = [user_generation_key(pk), user_head_key(pk)]
        keys += user_keys
    # Without a near cache (another backend), no call into it either.
    values = cache.get_many(keys) if near_cache.off else near_cache.get_many(keys)
    if read_head:
        user_cache = UserCache.of(pk, values.get(user_keys[0]), read=True)
        history = History.from_head(adapter, user_cache, values.get(user_keys[1]), model)
    elif history is None:
        history = History()  # anonymous
    return PageRead(
        history=history,
        model=model,
        rules=rules_current(values.get(RULES_VERSION_KEY)),
        catalog_changes=CatalogChanges.of(
            values.get(CATALOG_CHANGED_KEY, 0.0), values.get(AVAILABILITY_CHANGED_KEY, 0.0)
        ),
        adapter=adapter,
        social_changed_at=values.get(SOCIAL_CHANGED_KEY, 0.0),
        signed_in=signed_in,
    )


def warm_up() -> None:
    """Load what every list needs into this process now: the active version, the catalog
    with what lists show of its items (labels, pages, prices), the merchandisers' rules,
    who follows anyone and the statements that read a shopper's history.

    A web process calls it once at start, so that no shopper's request pays the load
    (the demo's ``gunicorn.conf.py`` does, then keeps what was loaded out of the garbage
    collector's scans). It never fails the process: when the database or the cache is
    not ready, the first request loads them as it would have anyway.
    """
    try:
        app_settings.refresh()  # the adapter of the setting in force, as block_run reads it
        page = page_read(user=None)  # loads the active version and the rules too
        adapter = page.adapter
        catalog_prepare(adapter, page.catalog_changes)
        followers_current(adapter, page.social_changed_at)  # no query without SOCIAL
        adapter.history_prepare(limit=HISTORY_LIMIT)
    except Exception as exc:  # an optimisation must not stop a worker booting
        logger.warning("Recommendations not loaded at start (%s): the first request will.", exc)


def _filters(
    spec: BlockSpec,
    history: History,
    *,
    exclude: Iterable[Any],
    category: str | None,
    rules: BlockRules,
) -> Filters:
    # A category list is one category by definition: variety does not apply.
    capped = spec.category_cap and category is None
    filters = Filters(
        bought=set() if spec.shows_bought else history.bought(),
        category=category,
        max_per_category=app_settings.MAX_PER_CATEGORY if capped else None,
    )
    filters.block([*exclude, *rules.excluded])
    return filters


def _session_allowed(adapter: SettingsAdapter, user: Any, history: History) -> bool:
    """Whether this session's views may personalise: anonymous or consenting shoppers.

    A signed-in shopper who turned personalisation off gets non-personal lists; the
    consent query runs only when a history is empty (a history implies consent).
    """
    if not is_user(user):
        return True
    return bool(history) or adapter.user_consents(user)


def _user_features(adapter: SettingsAdapter, user: Any, user_cache: UserCache | None) -> Any:
    if not app_settings.USER_FEATURES or user_cache is None or not is_user(user):
        return None
    # A profile rarely changes: one query per CACHE_TIMEOUT, not one per page.
    features = user_cache.get(FEATURES_CACHE_NAME)
    if features is None:
        features = adapter.user_features([user.pk])
        user_cache.set(FEATURES_CACHE_NAME, features)
    return features


def block_run(spec: BlockSpec, request: BlockRequest) -> list[Recommendation]:
    """The list of one block for one shopper: from the cache, or computed and cached."""
    app_settings.refresh()
    n = check_n(request.n)
    user, exclude, anchors = request.user, list(request.exclude), list(request.anchors)
    read = request.page or page_read(user=user, history=request.history)
    adapter = read.adapter
    model, history, changes = read.model, read.history, read.catalog_changes
    rules = read.rules.of(spec.block, pinned=spec.pinned)
    session = list(request.session_item_pks or ())
    if session and not _session_allowed(adapter, user, history):
        session = []
    viewed = []
    if RECENTLY_VIEWED in spec.layers:
        viewed = list(dict.fromkeys([*session, *history.viewed()]))
    category = None if request.category is None else str(request.category)
    # Only the parts the spec names the list by are computed.
    parts = {"n": n, "category": category}
    for part, pks in (("exclude", exclude), ("session", session)):
        if part in spec.key_parts:
            parts[part] = sorted(set(map(str, pks)))
    for part, pks in (("anchors", anchors), ("viewed", viewed)):
        if part in spec.key_parts:
            parts[part] = list(map(str, pks))
    name = list_name(
        spec.block,
        None if model is None else model.run_id,
        rules.key,
        history.fingerprint if spec.personal else history.bought_fingerprint,
        tuple(map(parts.__getitem__, spec.key_parts)),
    )
    owner = None
    if read.signed_in:
        owner = history.user_cache or UserCache.of(user.pk)
        # A shopper with no event of their own who follows nobody is ranked as an
        # anonymous shopper with the same inputs is (a profile only refines a personal
        # row, and they have none): they share those lists, so a new account's first
        # list costs no engine work and the cache keeps one copy, not one per account.
        if (
            not history
            and history.trained is None
            and not follows_anyone(adapter, user, read.social_changed_at)
        ):
            owner = None

    def catalog() -> Catalog:
        return catalog_current(adapter, changes)

    cached = list_get(adapter, catalog, owner, name, changes.availability_at)
    if cached is not None:
        return cached
    filters = _filters(spec, history, exclude=[*exclude, *anchors], category=category, rules=rules)
    # Without SOCIAL the social layer is not entered at all: the feature off costs nothing.
    circle = (
        NOBODY
        if app_settings.SOCIAL is None
        else circle_of(adapter, user, owner, read.social_changed_at)
    )
    inputs = Inputs(
        adapter=adapter,
        model=model,
        history=history,
        filters=filters,
        k=overfetch(n, filters),
        blocked=engine_blocked(filters),
        category_pks=category_pks(adapter, filters.category),
        anchors=anchors,
        session_item_pks=session,
        viewed=viewed,
        user_features=lambda: _user_features(adapter, user, history.user_cache),
        item_to_item=spec.item_to_item,
        circle=circle,
    )
    current = catalog_current(adapter, changes)
    chosen = candidates_choose(
        adapter,
        layers_build(spec.layers, inputs),
        catalog=current,
        rules=rules,
        filters=filters,
        n=n,
        top_up=spec.top_up,
        blocked=inputs.blocked,
        k=inputs.k,
    )
    if not spec.top_up and all(layer is None for _, layer in chosen):
        chosen = []  # pins alone: nothing this block means to show
    result = recommendations_assemble(
        adapter=adapter,
        model=model,
        chosen=chosen,
        history=history,
        catalog=current,
        policies=spec.reasons,
        circle=circle,
    )
    return list_set(owner, name, result)
