"""Why an item is shown, in words a shopper understands.

A reason is built only from the shopper's own history or from the rule that put the
item in the list, never from another customer's data: "Customers who bought X also
bought" names the product on screen (or in the shopper's own cart), not a person. The
one exception, what followed people did, is worded by ``serving/social.py`` under its
privacy rules, with the same lazy :data:`worded`.

A reason is lazy: it keeps its message and parameters and is worded in the language
active when it is shown, whatever the language active when it was computed or cached.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.functional import Promise, lazy
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from recommendations.adapters import Event
from recommendations.conf import PURCHASE, app_settings

# What a reason is: a str, or (as every reason built here) a lazy str worded when shown.
Reason = str | Promise

PINNED = gettext_lazy("Picked by our team")
POPULAR = gettext_lazy("Popular right now")
TRENDING = gettext_lazy("Trending now")
RECENTLY_VIEWED = gettext_lazy("You viewed this recently")
CATALOG = gettext_lazy("From our catalogue")

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
# A whole sentence per known verb: languages place the verb elsewhere ("Weil Sie X
# gekauft haben"). A verb of the settings outside these reads through BECAUSE_YOU_VERB.
BECAUSE_YOU_SENTENCES = {
    "bought": gettext_noop("Because you bought %(label)s"),
    "viewed": gettext_noop("Because you viewed %(label)s"),
    "reviewed": gettext_noop("Because you reviewed %(label)s"),
    "rated": gettext_noop("Because you rated %(label)s"),
    "saved": gettext_noop("Because you saved %(label)s"),
    "liked": gettext_noop("Because you liked %(label)s"),
}
# Translators: %(verb)s is a verb of the shop's settings in the past tense ("borrowed").
BECAUSE_YOU_VERB = gettext_noop("Because you %(verb)s %(label)s")


def _worded(message: Reason, **params: Any) -> str:
    """``message`` in the active language, with its parameters: a marked msgid, or a
    lazy plural whose form is chosen already (``ngettext_lazy`` with a number)."""
    text = str(message) if isinstance(message, Promise) else gettext(message)
    return text % params


# A reason worded when shown; it pickles as its message and parameters, so a cached
# list holds no language.
worded = lazy(_worded, str)


def source_verb(source: str) -> str:
    """The verb of the event source named ``source`` ("bought", "viewed", ...)."""
    for configured in app_settings.EVENT_SOURCES:
        if configured.name == source:
            by_role = SOURCE_VERBS.get(configured.role or "", DEFAULT_VERB)
            return configured.verb or SOURCE_VERBS.get(source) or by_role
    return SOURCE_VERBS.get(source, DEFAULT_VERB)


def because_you(*, source: str, label: str) -> Reason:
    """ "Because you bought X" for an item of the shopper's own history."""
    verb = source_verb(source)
    sentence = BECAUSE_YOU_SENTENCES.get(verb)
    if sentence is not None:
        return worded(sentence, label=label)
    # The host may translate its own verb in its catalog.
    return worded(BECAUSE_YOU_VERB, verb=gettext_lazy(verb), label=label)


def similar_to(*, label: str) -> Reason:
    """ "Similar to X": an alternative to the product on screen (the similar block)."""
    return worded(gettext_noop("Similar to %(label)s"), label=label)


def often_bought_with(*, label: str) -> Reason:
    """ "Often bought with X": a complement of the product on screen or in the cart."""
    return worded(gettext_noop("Often bought with %(label)s"), label=label)


def trending_in(*, category_label: str | None) -> Reason:
    """ "Trending in <Category>", or "Trending now" for an item without a category."""
    if not category_label:
        return TRENDING
    return worded(gettext_noop("Trending in %(category)s"), category=category_label)


def strongest_sources(events: Iterable[Event]) -> dict[Any, str]:
    """For each item of a history, the source that gave it the most weight; of sources
    as heavy, the first seen."""
    purchases = set(app_settings.source_names(PURCHASE))
    totals: dict[tuple[Any, str], float] = {}
    # One flat dict and one pass: no dict per item, no max() with a key per item.
    for event in events:
        key = (event.item_pk, event.source)
        totals[key] = totals.get(key, 0.0) + event.weight
    best: dict[Any, tuple[tuple[bool, float], str]] = {}
    for (pk, source), total in totals.items():
        # A purchase outranks views of the same item: "bought" is the truer reason.
        rank = (source in purchases, total)
        if pk not in best or rank > best[pk][0]:
            best[pk] = (rank, source)
    return {pk: source for pk, (_rank, source) in best.items()}
