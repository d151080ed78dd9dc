"""Why an item is shown, in words a shopper understands.

A reason is built only from the shopper's own history or from the rule that put the
item in the list, never from another customer's data: "Customers who bought X also
bought" names the product on screen (or in the shopper's own cart), not a person.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext as _

from recommendations.adapters import Event
from recommendations.conf import PURCHASE, app_settings

PINNED = "Picked by our team"
POPULAR = "Popular right now"
TRENDING = "Trending now"
RECENTLY_VIEWED = "You viewed this recently"
CATALOG = "From our catalogue"

# How an event source reads in "Because you <verb> X" when it sets no VERB: by its
# name, else by its role; anything else reads as "liked".
SOURCE_VERBS = {
    "purchase": "bought",
    "view": "viewed",
    "review": "reviewed",
    "rating": "rated",
    "wishlist": "saved",
}
DEFAULT_VERB = "liked"


def source_verb(source: str) -> str:
    """The verb of the event source named ``source`` ("bought", "viewed", ...)."""
    for configured in app_settings.EVENT_SOURCES:
        if configured.name == source:
            by_role = SOURCE_VERBS.get(configured.role or "", DEFAULT_VERB)
            return configured.verb or SOURCE_VERBS.get(source) or by_role
    return SOURCE_VERBS.get(source, DEFAULT_VERB)


def because_you(*, source: str, label: str) -> str:
    """ "Because you bought X" for an item of the shopper's own history."""
    return f"Because you {source_verb(source)} {label}"


def similar_to(*, label: str) -> str:
    """ "Similar to X": an alternative to the product on screen (the similar block)."""
    return _("Similar to %(label)s") % {"label": label}


def often_bought_with(*, label: str) -> str:
    """ "Often bought with X": a complement of the product on screen or in the cart."""
    return _("Often bought with %(label)s") % {"label": label}


def trending_in(*, category_label: str | None) -> str:
    """ "Trending in <Category>", or "Trending now" for an item without a category."""
    return f"Trending in {category_label}" if category_label else TRENDING


def strongest_sources(events: Iterable[Event]) -> dict[Any, str]:
    """For each item of a history, the source that gave it the most weight."""
    purchases = set(app_settings.source_names(PURCHASE))
    totals: dict[Any, dict[str, float]] = defaultdict(dict)
    for event in events:
        by_source = totals[event.item_pk]
        by_source[event.source] = by_source.get(event.source, 0.0) + event.weight
    # A purchase outranks views of the same item: "bought" is the truer reason.
    return {
        pk: max(by_source, key=lambda s: (s in purchases, by_source[s]))
        for pk, by_source in totals.items()
    }
