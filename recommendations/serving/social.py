"""The social layer of serving: who a shopper follows, what those people bought or
rated, and how that may be told to the shopper.

Privacy rules, in one place:

- A followed person is **named** ("Rated 5 stars by Alice, whom you follow") only when
  ``SOCIAL`` says they share their activity (``SHARING_FIELD``) and have a display name.
- People who do not share are only ever **counted**, and a count of them is told only
  when it is at least :data:`MIN_COUNT`: a count of one would reveal one person's
  purchase. A shopper who follows a person and accounts of their own can still tell
  that person's share of a count; ``COUNT_NON_SHARING`` False counts nobody who does
  not share.
- Only purchases and ratings (sources with a ``VALUE_FIELD``, positive ones) are told;
  views never, and nothing of a user who refused personalisation.

Follows and names are read at request time (and cached with the shopper's generation,
which a follow, an unfollow or a followed person's change of sharing moves on), so a
follow made after the last training counts at once.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.utils import translation
from django.utils.translation import gettext_noop

from recommendations.adapters import SettingsAdapter, SocialEvent
from recommendations.conf import PURCHASE, app_settings
from recommendations.reasons import Reason, Worded, source_verb
from recommendations.serving.history import is_user
from recommendations.serving.keys import UserCache
from recommendations.serving.loading import ServingModel
from recommendations.serving.state import process_state

#: The smallest count of people who do not share that a reason may tell.
MIN_COUNT = 2
#: Followed people serving reads at most (the newest follows first).
MAX_FOLLOWED = 500
#: Events of the followed people read at most for a block of their favourites.
MAX_ACTIVITY = 5000
# The shopper's circle in their user cache: a follow or a change of sharing bumps it.
CIRCLE_CACHE_NAME = "circle"
# Unicode categories (first letter) of the characters that make a name visible: letters,
# numbers, punctuation, symbols.
VISIBLE_CATEGORIES = frozenset("LNPS")
# Letters and symbols that draw nothing (Hangul fillers, the blank Braille pattern).
BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


@lru_cache(maxsize=4096)
def ngettext_lazy(singular: str, plural: str, number: int) -> Any:
    """Django's ``ngettext_lazy``, one per message and count in the process: each call
    of Django's builds a new class, which cost more than the rest of a reason. Same
    name, so ``makemessages`` still finds the messages."""
    return translation.ngettext_lazy(singular, plural, number)


@dataclass(frozen=True)
class Circle:
    """The people a shopper follows, as serving may tell of them."""

    followed: tuple[Any, ...] = ()
    # Display names by user key (as a string), of the followed people who share only.
    names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __bool__(self) -> bool:
        return bool(self.followed)


NOBODY = Circle()


def followers_current(adapter: SettingsAdapter, social_changed_at: float) -> frozenset[str]:
    """Keys (as strings) of the users who follow anyone, as this process holds them.

    Read again when follows changed since (``services.social_changed``) or, as a safety
    net for changes made without telling, after ``RELOAD_INTERVAL`` seconds.
    """
    now = time.time()
    held = process_state.followers
    if held is not None and social_changed_at < held[0] > now - app_settings.RELOAD_INTERVAL:
        return held[1]
    followers = frozenset(map(str, adapter.social_followers()))
    process_state.followers = (now, followers)
    return followers


def follows_anyone(adapter: SettingsAdapter, user: Any, social_changed_at: float = 0.0) -> bool:
    """Whether a signed-in ``user`` follows anyone (never without ``SOCIAL``): no query,
    the process knows who follows anyone."""
    if app_settings.SOCIAL is None or not is_user(user):
        return False
    return str(user.pk) in followers_current(adapter, social_changed_at)


def circle_of(
    adapter: SettingsAdapter,
    user: Any,
    user_cache: UserCache | None,
    social_changed_at: float = 0.0,
) -> Circle:
    """Whom ``user`` follows and the names of those who share; nobody without ``SOCIAL``.

    A shopper who follows nobody costs no query (the process knows who follows anyone).
    """
    if not follows_anyone(adapter, user, social_changed_at):
        return NOBODY
    circle = None if user_cache is None else user_cache.get(CIRCLE_CACHE_NAME)
    if circle is None:
        followed, names = adapter.social_circle(user.pk, limit=MAX_FOLLOWED)
        shown = {str(pk): name for pk, raw in names.items() if (name := shown_name(raw))}
        circle = Circle(tuple(followed), shown)
        if user_cache is not None:
            user_cache.set(CIRCLE_CACHE_NAME, circle)
    return circle


def shown_name(name: Any) -> str:
    """A display name as a reason may tell it: without control and format characters
    (zero-width spaces, direction overrides, which would hide the name or turn the
    sentence around) and blank fillers, spaces collapsed; "" when nothing visible is
    left (then the person is only counted)."""
    kept = "".join(
        char
        for char in str(name or "")
        if unicodedata.category(char)[0] != "C" and char not in BLANK_CHARACTERS
    )
    kept = " ".join(kept.split())
    visible = any(unicodedata.category(char)[0] in VISIBLE_CATEGORIES for char in kept)
    return kept if visible else ""


def names_told(adapter: SettingsAdapter, followed: Iterable[Any]) -> list[str]:
    """The names reasons may tell of the people ``followed`` (the staff preview's list):
    of those who share, consent to personalisation and have a visible name; sorted."""
    names = adapter.social_names(followed)
    consenting = adapter.consenting_among(names)
    return sorted(name for pk in consenting if (name := shown_name(names[pk])))


def social_row(model: ServingModel, circle: Circle) -> sp.csr_matrix | None:
    """The 1 x n_users row of the training users the shopper follows now (fold-in), or
    None when the model is not social or knows none of them."""
    if not circle or not getattr(model.recommender, "uses_social", False):
        return None
    rows = sorted({row for pk in circle.followed if (row := model.user_row(pk)) is not None})
    if not rows:
        return None
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix(
        (data, (np.zeros(len(rows), dtype=np.int64), rows)), shape=(1, model.user_pks.size)
    )


@dataclass
class Evidence:
    """What the followed people did with one item."""

    item_pk: Any
    buyers: set[str] = field(default_factory=set)
    # Stars (the raw value of a rating source) by user key, positive ratings only.
    ratings: dict[str, Any] = field(default_factory=dict)


def evidence_collect(
    adapter: SettingsAdapter,
    circle: Circle,
    *,
    item_pks: Iterable[Any] | None = None,
    limit: int = MAX_ACTIVITY,
) -> dict[str, Evidence]:
    """Per item key, who of the circle bought or rated it well, newest activity first."""
    if not circle:
        return {}
    events: list[SocialEvent] = adapter.social_activity(
        circle.followed, item_pks=item_pks, limit=limit
    )
    evidence: dict[str, Evidence] = {}
    for event in events:
        found = evidence.setdefault(str(event.item_pk), Evidence(event.item_pk))
        person = str(event.user_pk)
        if event.purchase:
            found.buyers.add(person)
        else:
            found.ratings[person] = max(found.ratings.get(person, event.value), event.value)
    return evidence


def _told(people: Iterable[str], names: Mapping[str, str]) -> tuple[list[str], int]:
    """The names of the people who share, and how many others may be told (0 under 2,
    and always 0 when the shop counts sharers only: ``COUNT_NON_SHARING``)."""
    people = sorted(people)
    named = sorted(names[p] for p in people if p in names)
    others = len(people) - len(named)
    relation = app_settings.SOCIAL
    if relation is not None and not relation.count_non_sharing:
        return named, 0
    return named, others if others >= MIN_COUNT else 0


def _stars(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def purchase_verb() -> str:
    """How the purchases read ("bought"; a library's loans, "borrowed"): the verb of
    the first purchase source (see :func:`recommendations.reasons.source_verb`)."""
    names = app_settings.source_names(PURCHASE)
    return source_verb(names[0]) if names else "bought"


def _bought_by(verb: str, named: list[str], others: int) -> Reason:
    """ "Bought by Alice, whom you follow", "... and 2 more people", "by 3 people"; a
    host's own verb ("Borrowed by ...") in the same shapes."""
    own = verb != "bought"
    more = len(named) - 1 + others if named else others
    values = {"verb": verb.capitalize(), "name": named[0] if named else "", "count": more}
    if named and not more:
        if own:
            return Worded(gettext_noop("%(verb)s by %(name)s, whom you follow"), **values)
        return Worded(gettext_noop("Bought by %(name)s, whom you follow"), **values)
    if named:
        if own:
            message = ngettext_lazy(
                "%(verb)s by %(name)s and %(count)d more person you follow",
                "%(verb)s by %(name)s and %(count)d more people you follow",
                more,
            )
        else:
            message = ngettext_lazy(
                "Bought by %(name)s and %(count)d more person you follow",
                "Bought by %(name)s and %(count)d more people you follow",
                more,
            )
    elif own:
        message = ngettext_lazy(
            "%(verb)s by %(count)d person you follow",
            "%(verb)s by %(count)d people you follow",
            more,
        )
    else:
        message = ngettext_lazy(
            "Bought by %(count)d person you follow", "Bought by %(count)d people you follow", more
        )
    return Worded(message, **values)


def social_reason(evidence: Evidence | None, circle: Circle) -> Reason:
    """Why the people one follows make ``evidence``'s item worth a look, worded when
    shown; "" if nothing may be told (nobody, or one person who does not share)."""
    if evidence is None:
        return ""
    raters = sorted(evidence.ratings.items(), key=lambda pair: (-float(pair[1]), pair[0]))
    for person, value in raters:
        stars = _stars(value)
        if person in circle.names and stars is not None:
            message = ngettext_lazy(
                "Rated %(stars)d star by %(name)s, whom you follow",
                "Rated %(stars)d stars by %(name)s, whom you follow",
                stars,
            )
            return Worded(message, stars=stars, name=circle.names[person])
    named, others = _told(evidence.buyers, circle.names)
    if named or others:
        return _bought_by(purchase_verb(), named, others)
    _nobody, raters_told = _told(evidence.ratings, {})
    if raters_told:
        message = ngettext_lazy(
            "Rated highly by %(count)d person you follow",
            "Rated highly by %(count)d people you follow",
            raters_told,
        )
        return Worded(message, count=raters_told)
    return ""


def told_count(evidence: Evidence, circle: Circle) -> int:
    """How many of the circle a reason may tell of for this item (named or counted)."""
    people = evidence.buyers | set(evidence.ratings)
    named, others = _told(people, circle.names)
    return len(named) + others


def followed_ranked(
    adapter: SettingsAdapter, circle: Circle, *, blocked: set[str], k: int
) -> list[tuple[Any, float]]:
    """The items most of the circle bought or rated well, that a reason may tell of."""
    ranked = []
    for key, evidence in evidence_collect(adapter, circle).items():
        if key in blocked or not social_reason(evidence, circle):
            continue
        ranked.append((evidence.item_pk, float(told_count(evidence, circle))))
    # Stable: equal counts keep the newest activity first.
    ranked.sort(key=lambda pair: -pair[1])
    return ranked[:k]
