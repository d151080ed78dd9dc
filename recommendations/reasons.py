"""Why an item is shown, in words a shopper understands.

A reason is built only from the shopper's own history or from the rule that put the
item in the list, never from another customer's data: "Customers who bought X also
bought" names the product on screen (or in the shopper's own cart), not a person. The
one exception, what followed people did, is worded by ``serving/social.py`` under its
privacy rules, with the same :class:`Worded`.

A reason is lazy: it keeps its message and parameters and is worded in the language
active when it is shown, whatever the language active when it was computed or cached.
It is a :class:`Worded`, not one of Django's ``lazy()`` values: those unpickle through
``lazy()`` again, which builds a new proxy class (a wrapper per ``str`` method, about
12 KB) for every value read back from a cache. A list of 20 reasons read from Redis cost a
web worker about 250 KB, kept for as long as the process's memo kept the list: 634-640 MB
per worker instead of 290 MB under 1,000 shoppers (issue 12).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import get_language, gettext, gettext_noop

from recommendations.adapters import Event
from recommendations.conf import PURCHASE, app_settings
from recommendations.serving.state import process_state


class Worded(Promise):
    """A marked message and its parameters, worded in the language active when shown.

    ``message`` is a marked msgid, or a lazy plural whose form is chosen already
    (``ngettext_lazy`` with a number). It stands for the ``str`` it words to, as
    Django's lazy strings do: it compares and hashes as that text and answers its
    methods (``startswith``, ``upper`` ...). It pickles as its message and parameters,
    and unpickles as this one class.
    """

    __slots__ = ("_text", "message", "params")

    def __init__(self, message: str | Promise | tuple[Any, ...], **params: Any) -> None:
        if isinstance(message, Promise) and not isinstance(message, Worded):
            # Kept as the call it stands for (ngettext and its arguments, pickled by
            # reference), through the pickle protocol of Django's lazy values: the
            # proxy itself would unpickle as a new class.
            _unpickle, (function, args, kwargs, *_classes) = message.__reduce__()
            message = (function, args, kwargs)
        self.message = message
        self.params = params
        # (language, text) of the last wording: a cached list's reasons are worded again
        # on every request, in the same language as a rule.
        self._text: tuple[str | None, str] | None = None

    def __str__(self) -> str:
        return self.text_in(get_language())

    def text_in(self, language: str | None) -> str:
        """The text in ``language``, which must be the active one (``get_language()``):
        a caller wording a whole list reads it once."""
        known = self._text
        if known is not None and known[0] == language:
            return known[1]
        if isinstance(self.message, tuple):
            function, args, kwargs = self.message
            text = function(*args, **kwargs)
        else:
            text = _translated(self.message, language)
        # Without parameters the message is not a format: a "%" in it stays as written.
        text = text % self.params if self.params else text
        self._text = (language, text)
        return text

    def __repr__(self) -> str:
        return repr(str(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_worded_unpickle, (self.message, self.params))

    def __getattr__(self, name: str) -> Any:
        # Only str's public methods: never a slot (unset while unpickling) or a dunder.
        if name.startswith("_") or name in Worded.__slots__:
            raise AttributeError(name)
        return getattr(str(self), name)

    def __eq__(self, other: object) -> bool:
        return str(self) == (str(other) if isinstance(other, Promise) else other)

    def __lt__(self, other: object) -> bool:
        return str(self) < (str(other) if isinstance(other, Promise) else other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __len__(self) -> int:
        return len(str(self))

    def __contains__(self, part: str) -> bool:
        return str(part) in str(self)

    def __add__(self, other: str) -> str:
        return str(self) + str(other)

    def __radd__(self, other: str) -> str:
        return str(other) + str(self)

    def __mod__(self, params: Any) -> str:
        return str(self) % params

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _translated(message: str, language: str | None) -> str:
    """``gettext(message)`` in ``language``, the active one, remembered by the process.

    Every new reason (a list computed, or read back from a shared cache) is worded
    again, and gettext walks the whole chain of the language's catalogs for each.
    """
    memo = process_state.translated
    text = memo.get((language, message))
    if text is None:
        text = memo[(language, message)] = gettext(message)
    return text


def _worded_unpickle(message: str | tuple[Any, ...], params: dict[str, Any]) -> Worded:
    return Worded(message, **params)


# What a reason is: a str, or (as every reason built here) a Worded, worded when shown.
Reason = str | Promise


def reason_text(reason: Reason, language: str | None) -> str:
    """A reason as text in ``language``, the active one (see :meth:`Worded.text_in`)."""
    return reason.text_in(language) if isinstance(reason, Worded) else str(reason)


PINNED = Worded(gettext_noop("Picked by our team"))
POPULAR = Worded(gettext_noop("Popular right now"))
TRENDING = Worded(gettext_noop("Trending now"))
RECENTLY_VIEWED = Worded(gettext_noop("You viewed this recently"))
CATALOG = Worded(gettext_noop("From our catalogue"))

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
        return Worded(sentence, label=label)
    # The host may translate its own verb in its catalog.
    return Worded(BECAUSE_YOU_VERB, verb=Worded(verb), label=label)


def similar_to(*, label: str) -> Reason:
    """ "Similar to X": an alternative to the product on screen (the similar block)."""
    return Worded(gettext_noop("Similar to %(label)s"), label=label)


def often_bought_with(*, label: str) -> Reason:
    """ "Often bought with X": a complement of the product on screen or in the cart."""
    return Worded(gettext_noop("Often bought with %(label)s"), label=label)


def trending_in(*, category_label: str | None) -> Reason:
    """ "Trending in <Category>", or "Trending now" for an item without a category."""
    if not category_label:
        return TRENDING
    return Worded(gettext_noop("Trending in %(category)s"), category=category_label)


def strongest_sources(events: Iterable[Event | tuple[Any, str, float, Any]]) -> dict[Any, str]:
    """For each item of a history, the source that gave it the most weight; of sources
    as heavy, the first seen. ``events`` are :class:`Event` or rows shaped like them
    (item key, source, weight, time)."""
    purchases = set(app_settings.source_names(PURCHASE))
    totals: dict[tuple[Any, str], float] = {}
    # One flat dict and one pass: no dict per item, no max() with a key per item.
    for item_pk, source, weight, _time in events:
        key = (item_pk, source)
        totals[key] = totals.get(key, 0.0) + weight
    best: dict[Any, tuple[tuple[bool, float], str]] = {}
    for (pk, source), total in totals.items():
        # A purchase outranks views of the same item: "bought" is the truer reason.
        rank = (source in purchases, total)
        if pk not in best or rank > best[pk][0]:
            best[pk] = (rank, source)
    return {pk: source for pk, (_rank, source) in best.items()}
