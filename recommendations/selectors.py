"""Reads of the recommendations app: the lists the template tags and the API show.

Each block is one declarative :class:`~recommendations.serving.pipeline.BlockSpec`
run by the same pipeline (:func:`~recommendations.serving.pipeline.block_run`):
ranked candidates from the layers the spec names, in order, then the business rules
of :mod:`recommendations.rules`, then the catalog instances of the survivors and the
items named in reasons, fetched together in one query.

The general lists (personal, trending, popular) fall back: popularity comes from the
database when no model was ever trained, and the available catalog itself is the last
resort, so none is empty while the catalog has an available item; each item's
``source`` names the layer that chose it. The lists that mean something specific
(similar, bought together, recently viewed) hold only that, fewer than ``n`` items or
none when there is no more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from recommendations.serving.assembly import Recommendation
from recommendations.serving.cache import list_body_get, list_body_set
from recommendations.serving.candidates import (
    BOUGHT_TOGETHER,
    CATALOG,
    FOLLOWED,
    PERSONAL,
    PINNED,
    POPULAR,
    RECENTLY_VIEWED,
    SESSION,
    SIMILAR,
    TRENDING,
)
from recommendations.serving.history import History
from recommendations.serving.pipeline import (
    DEFAULT_N,
    MAX_N,
    BlockRequest,
    BlockSpec,
    PageRead,
    block_run,
    check_n,
    page_read,
    shopper_history,
    warm_up,
)

__all__ = [
    "BOUGHT_TOGETHER",
    "CATALOG",
    "DEFAULT_N",
    "FOLLOWED",
    "MAX_N",
    "PERSONAL",
    "PINNED",
    "POPULAR",
    "RECENTLY_VIEWED",
    "SESSION",
    "SIMILAR",
    "TRENDING",
    "PageRead",
    "Recommendation",
    "bought_together",
    "check_n",
    "list_body_get",
    "list_body_set",
    "page_read",
    "popular_products",
    "popular_with_followed",
    "recently_viewed",
    "recommendations_for_session",
    "recommendations_for_user",
    "shopper_history",
    "similar_products",
    "trending_products",
    "warm_up",
]

FOR_YOU = BlockSpec(
    block="for_you",
    layers=(PERSONAL, SESSION, TRENDING, POPULAR),
    personal=True,
    key_parts=("n", "exclude", "category", "session"),
)
# Alternatives to the product: nothing else, and as many of its category as there are.
SIMILAR_PRODUCTS = BlockSpec(
    block="similar",
    layers=(SIMILAR,),
    key_parts=("n", "exclude", "anchors"),
    top_up=False,
    category_cap=False,
)
# Complements bought in the same orders: empty for an empty cart or a product never
# bought with another, not trending items under this title.
BOUGHT_TOGETHER_PRODUCTS = BlockSpec(
    block="bought_together",
    layers=(BOUGHT_TOGETHER,),
    key_parts=("n", "exclude", "anchors"),
    # The basket co-occurrence model when the artifact has one; older ones: similar items.
    item_to_item=("bought_together", "similar"),
    top_up=False,
)
TRENDING_PRODUCTS = BlockSpec(
    block="trending",
    layers=(TRENDING, POPULAR),
    key_parts=("n", "exclude", "category"),
)
POPULAR_PRODUCTS = BlockSpec(
    block="popular",
    layers=(POPULAR,),
    key_parts=("n", "exclude", "category"),
)
FOLLOWED_PRODUCTS = BlockSpec(
    block="followed",
    layers=(FOLLOWED,),
    key_parts=("n", "exclude"),
    # Only what the people one follows bought or rated: empty (hidden) when nothing is.
    top_up=False,
)
# Only what this shopper viewed, newest first, bought or not; never padded.
RECENTLY_VIEWED_PRODUCTS = BlockSpec(
    block="recently_viewed",
    layers=(RECENTLY_VIEWED,),
    key_parts=("n", "exclude", "viewed"),
    top_up=False,
    shows_bought=True,
    category_cap=False,
    pinned=False,
)


def recommendations_for_user(
    *,
    user: Any,
    n: int = DEFAULT_N,
    exclude: Iterable[Any] = (),
    category: Any = None,
    session_item_pks: Sequence[Any] = (),
    history: History | None = None,
    page: PageRead | None = None,
) -> list[Recommendation]:
    """A shopper's personal list: own history, then this session's views, then trending.

    ``history`` is the shopper's :func:`shopper_history`, when the caller read it already;
    ``page`` (any selector) what the blocks of a page share, read once (:func:`page_read`).
    """
    request = BlockRequest(
        user=user,
        n=n,
        exclude=exclude,
        category=category,
        session_item_pks=session_item_pks,
        history=history,
        page=page,
    )
    return block_run(FOR_YOU, request)


def recommendations_for_session(
    *, item_pks: Sequence[Any], n: int = DEFAULT_N, exclude: Iterable[Any] = ()
) -> list[Recommendation]:
    """An anonymous shopper's list from the items viewed in this session."""
    return recommendations_for_user(user=None, n=n, exclude=exclude, session_item_pks=item_pks)


def similar_products(
    *,
    item: Any,
    n: int = DEFAULT_N,
    user: Any = None,
    exclude: Iterable[Any] = (),
    history: History | None = None,
    page: PageRead | None = None,
) -> list[Recommendation]:
    """Alternatives to ``item`` (never ``item`` itself): alike and co-bought; maybe none."""
    request = BlockRequest(
        user=user, n=n, exclude=exclude, anchors=[item.pk], history=history, page=page
    )
    return block_run(SIMILAR_PRODUCTS, request)


def bought_together(
    *,
    item: Any = None,
    cart_item_pks: Sequence[Any] | None = None,
    n: int = DEFAULT_N,
    user: Any = None,
    exclude: Iterable[Any] = (),
    history: History | None = None,
    page: PageRead | None = None,
) -> list[Recommendation]:
    """Items bought with ``item``, or with the items of a cart when no item is given.

    Only items bought in the same orders: none for an empty cart or a lone product.
    """
    anchors = [item.pk] if item is not None else list(dict.fromkeys(cart_item_pks or ()))
    request = BlockRequest(
        user=user, n=n, exclude=exclude, anchors=anchors, history=history, page=page
    )
    return block_run(BOUGHT_TOGETHER_PRODUCTS, request)


def trending_products(
    *,
    n: int = DEFAULT_N,
    category: Any = None,
    user: Any = None,
    exclude: Iterable[Any] = (),
    history: History | None = None,
    page: PageRead | None = None,
) -> list[Recommendation]:
    """What is selling now, optionally in one category (a category key)."""
    request = BlockRequest(
        user=user, n=n, exclude=exclude, category=category, history=history, page=page
    )
    return block_run(TRENDING_PRODUCTS, request)


def popular_products(
    *,
    n: int = DEFAULT_N,
    user: Any = None,
    exclude: Iterable[Any] = (),
    history: History | None = None,
    page: PageRead | None = None,
) -> list[Recommendation]:
    """The best sellers of the serving version: promoting or rolling back changes them."""
    request = BlockRequest(user=user, n=n, exclude=exclude, history=history, page=page)
    return block_run(POPULAR_PRODUCTS, request)


def recently_viewed(
    *,
    user: Any = None,
    session_item_pks: Sequence[Any] | None = None,
    n: int = DEFAULT_N,
    exclude: Iterable[Any] = (),
    history: History | None = None,
    page: PageRead | None = None,
) -> list[Recommendation]:
    """The shopper's own viewed items, newest first, bought or not; only those (maybe none)."""
    request = BlockRequest(
        user=user,
        n=n,
        exclude=exclude,
        session_item_pks=session_item_pks or (),
        history=history,
        page=page,
    )
    return block_run(RECENTLY_VIEWED_PRODUCTS, request)


def popular_with_followed(
    *,
    user: Any,
    n: int = DEFAULT_N,
    exclude: Iterable[Any] = (),
    history: History | None = None,
    page: PageRead | None = None,
) -> list[Recommendation]:
    """What the people ``user`` follows bought or rated well, each with a social reason.

    Empty for anonymous shoppers, without ``SOCIAL``, when the shopper follows nobody, or
    when nothing qualifies (see :mod:`recommendations.serving.social` for what may be
    told).
    """
    request = BlockRequest(user=user, n=n, exclude=exclude, history=history, page=page)
    return block_run(FOLLOWED_PRODUCTS, request)
