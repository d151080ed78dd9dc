"""Inclusion tags that render the recommendation blocks of a storefront.

Each tag only asks a selector for its list and renders
``recommendations/<block>.html`` (override it in the host project's templates).
They need ``request`` in the context (the ``request`` context processor).

The blocks of one page share what they read: the shopper's history, cart and session
views are read once per request. A block never repeats an item an earlier block of
the page showed (recently viewed included), nor the product on screen (``product`` in
the context): it asks the pipeline for other items in their place. A block renders
nothing when it has nothing it means to show (no similar item, an empty cart, no view),
and "Recommended for you" is titled ``fallback_title`` ("Popular right now") when none
of its items comes from the shopper's own history or session.

    {% load recommendations_tags %}
    {% recommended_for_you n=8 %}
    {% similar_products product n=4 %}
    {% bought_together product=product %}  {% bought_together items=cart_lines %}
    {% trending_products n=8 category=category.pk %}
    {% recently_viewed %}
    {% popular_with_followed n=4 %}
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django import template
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy

from recommendations import selectors, tracking
from recommendations.adapters import get_adapter
from recommendations.availability import UNAVAILABLE_ERRORS
from recommendations.session import request_memo, session_cart_pks, session_viewed_pks

TagFunction = Callable[..., dict[str, Any]]
register = template.Library()
logger = logging.getLogger(__name__)

# The layers whose items make "Recommended for you" personal: the shopper's own
# history and this session's views (the rest are trending, popular or pinned).
PERSONAL_SOURCES = frozenset({selectors.PERSONAL, selectors.SESSION})
FALLBACK_TITLE = gettext_lazy("Popular right now")
STYLESHEET = "recommendations/recommendations.css"
TRACKING_SCRIPT = "recommendations/tracking.js"


def _quiet_when_down(block: str) -> Callable[[TagFunction], TagFunction]:
    """A block renders nothing (and logs) while the database or the cache is down."""

    def decorate(tag: TagFunction) -> TagFunction:
        @functools.wraps(tag)
        def render(context: template.Context, *args: Any, **kwargs: Any) -> dict[str, Any]:
            try:
                return tag(context, *args, **kwargs)
            except UNAVAILABLE_ERRORS as exc:
                logger.error("Recommendation block %r left out: %s", block, exc)
                return {"block": block, "recommendations": [], "impression": None}

        return render

    return decorate


def _n(n: Any) -> int:
    """A template's ``n`` clamped to 1..MAX_N: a typo must not break the page."""
    try:
        value = int(n)
    except (TypeError, ValueError):
        value = selectors.DEFAULT_N
    return min(max(value, 1), selectors.MAX_N)


def _block(
    context: template.Context, block: str, title: str, recommendations: list[Any]
) -> dict[str, Any]:
    request, user = _shopper(context)
    return {
        "block": block,
        # Worded once, shown twice (the section's label and its heading).
        "title": str(title),
        "recommendations": recommendations,
        "request": request,
        "events_url": request_memo(request, "events_url", _events_url),
        # Every block links the stylesheet (and the click script): found once per page.
        **request_memo(request, "assets", _assets),
        # One row per rendered block (one INSERT per page with ImpressionMiddleware);
        # its token lets a click name what was shown.
        "impression": tracking.impression_record(
            block=block, recommendations=recommendations, user=user, request=request
        ),
    }


def _selected_block(
    context: template.Context,
    block: str,
    title: str,
    select: Callable[..., list[Any]],
    *,
    exclude: Iterable[Any] = (),
) -> dict[str, Any]:
    """The block of the list ``select`` (a selector with its own arguments bound) gives
    for the shopper: called with their ``user``, what the page's blocks read first
    (``page``) and what to leave out (the page's, plus ``exclude``); later blocks of the
    page do not repeat it."""
    request, user = _shopper(context)
    page = _page(request, user)
    if page.history:  # a history of one's own implies consent
        tracking.consent_known(request, True)
    recommendations = select(
        user=user, exclude=[*_excluded(context, request), *exclude], page=page
    )
    _shown_pks(request).update(str(rec.item.pk) for rec in recommendations)
    return _block(context, block, title, recommendations)


def _events_url() -> str:
    """The URL clicks are posted to ('' when the host does not route the app's API):
    reversed once per request, not once per block."""
    try:
        return reverse("recommendations:events")
    except NoReverseMatch:
        return ""


def _assets() -> dict[str, str]:
    """The static URLs of the blocks' stylesheet and click script (``_list.html``)."""
    return {"stylesheet_url": static(STYLESHEET), "script_url": static(TRACKING_SCRIPT)}


def _shopper(context: template.Context) -> tuple[Any, Any]:
    request = context.get("request")
    return request, getattr(request, "user", None)


def _page(request: Any, user: Any) -> selectors.PageRead:
    """What every block reads first (the shopper's history, the rules, when the catalog
    changed), read once per request whatever the number of blocks: one cache round trip."""
    # Keyed by the shopper too: the memo is the request's, whichever user reads it.
    key = ("page", getattr(user, "pk", None))
    return request_memo(request, key, lambda: selectors.page_read(user=user))


def _shown_pks(request: Any) -> set[str]:
    """Keys of the items the blocks of this page showed so far."""
    return request_memo(request, "shown", set)


def _excluded(context: template.Context, request: Any) -> list[Any]:
    """What a block leaves out: the cart, earlier blocks' items, the product on screen."""
    excluded = [*session_cart_pks(request), *_shown_pks(request)]
    product = context.get("product")
    if isinstance(product, get_adapter().shape.model):
        excluded.append(product.pk)
    return excluded


def _item_pks(items: Iterable[Any]) -> list[Any]:
    """Keys of catalog items given as instances, keys, or wrappers of an item (cart lines)."""
    catalog = get_adapter().shape.model
    pks = []
    for element in items or ():
        if isinstance(element, catalog):
            pks.append(element.pk)
        elif isinstance(element, int | str):
            pks.append(element)
        else:
            # A cart or basket line: its foreign key to the catalog, else an attribute.
            keys = [
                getattr(element, field.attname)
                for field in getattr(getattr(element, "_meta", None), "concrete_fields", ())
                if field.many_to_one and issubclass(field.related_model, catalog)
            ]
            wrapped = [v.pk for v in vars(element).values() if isinstance(v, catalog)]
            pks.extend([key for key in keys if key is not None][:1] or wrapped[:1])
    return pks


@register.inclusion_tag("recommendations/recommended_for_you.html", takes_context=True)
@_quiet_when_down("for_you")
def recommended_for_you(
    context: template.Context,
    n: Any = selectors.DEFAULT_N,
    title: str = gettext_lazy("Recommended for you"),
    fallback_title: str = FALLBACK_TITLE,
) -> dict[str, Any]:
    """The shopper's personal list (this session's views for anonymous shoppers).

    Titled ``fallback_title`` when nothing in it is personal (a shopper the store knows
    nothing of gets trending and popular items).
    """
    select = functools.partial(
        selectors.recommendations_for_user,
        n=_n(n),
        session_item_pks=session_viewed_pks(context.get("request")),
    )
    rendered = _selected_block(context, "for_you", title, select)
    if not any(rec.source in PERSONAL_SOURCES for rec in rendered["recommendations"]):
        rendered["title"] = str(fallback_title)
    return rendered


@register.inclusion_tag("recommendations/similar_products.html", takes_context=True)
@_quiet_when_down("similar")
def similar_products(
    context: template.Context,
    product: Any = None,
    n: Any = 4,
    title: str = gettext_lazy("Similar products"),
) -> dict[str, Any]:
    """Alternatives to ``product`` (default: ``product`` in context): alike and co-bought."""
    product = product if product is not None else context.get("product")
    if product is None:
        return _block(context, "similar", title, [])
    select = functools.partial(selectors.similar_products, item=product, n=_n(n))
    return _selected_block(context, "similar", title, select)


@register.inclusion_tag("recommendations/bought_together.html", takes_context=True)
@_quiet_when_down("bought_together")
def bought_together(
    context: template.Context,
    product: Any = None,
    items: Iterable[Any] | None = None,
    n: Any = 4,
    title: str = gettext_lazy("Frequently bought together"),
) -> dict[str, Any]:
    """Items bought with ``product``, or with ``items`` (e.g. cart lines), or with the cart."""
    if product is None and items is None:
        product = context.get("product")
    if product is not None:
        select = functools.partial(selectors.bought_together, item=product, n=_n(n))
        return _selected_block(context, "bought_together", title, select)
    anchors = _item_pks(items) if items is not None else session_cart_pks(context.get("request"))
    select = functools.partial(selectors.bought_together, cart_item_pks=anchors, n=_n(n))
    return _selected_block(context, "bought_together", title, select, exclude=anchors)


@register.inclusion_tag("recommendations/trending_products.html", takes_context=True)
@_quiet_when_down("trending")
def trending_products(
    context: template.Context,
    n: Any = selectors.DEFAULT_N,
    category: Any = None,
    title: str = gettext_lazy("Trending now"),
) -> dict[str, Any]:
    """What is selling now, optionally in one category (its key)."""
    select = functools.partial(selectors.trending_products, n=_n(n), category=category)
    return _selected_block(context, "trending", title, select)


@register.inclusion_tag("recommendations/recently_viewed.html", takes_context=True)
@_quiet_when_down("recently_viewed")
def recently_viewed(
    context: template.Context,
    n: Any = selectors.DEFAULT_N,
    title: str = gettext_lazy("Recently viewed"),
) -> dict[str, Any]:
    """The shopper's own viewed items, newest first, bought or not (nothing else)."""
    select = functools.partial(
        selectors.recently_viewed,
        session_item_pks=session_viewed_pks(context.get("request")),
        n=_n(n),
    )
    return _selected_block(context, "recently_viewed", title, select)


@register.inclusion_tag("recommendations/popular_with_followed.html", takes_context=True)
@_quiet_when_down("followed")
def popular_with_followed(
    context: template.Context,
    n: Any = selectors.DEFAULT_N,
    title: str = gettext_lazy("Popular with people you follow"),
) -> dict[str, Any]:
    """What the people the shopper follows bought or rated well; hidden when nothing is."""
    select = functools.partial(selectors.popular_with_followed, n=_n(n))
    return _selected_block(context, "followed", title, select)
