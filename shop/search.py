"""Ranked product search: one interface over SQLite FTS5 and PostgreSQL full-text search.

``products_search(query=...)`` is all a view needs. Words are matched as prefixes
("hear" finds hearts) and stemmed (porter on SQLite, the english configuration on
PostgreSQL); a word in the name outweighs one in the description. When every word must
match and nothing does, each unknown word is replaced by the closest word of the product
names ("hart" -> "heart", difflib over a vocabulary cached per process) and the search
runs again; failing that, products matching some of the words are shown. An empty result
carries "did you mean" suggestions, for the page to show beside popular products.

The index: on SQLite the FTS5 table ``shop_product_fts`` (migration
0002_product_search), kept in sync by triggers and rebuilt by
``manage.py rebuild_search_index``; on PostgreSQL a GIN index over the same weighted
vector ``search_vector()`` builds.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import Count, Max

from shop.models import Product
from shop.taxonomy import words_of

FTS_TABLE = "shop_product_fts"
# bm25 weights of the indexed columns (name, description): a name match counts ten times.
FTS_WEIGHTS = (10.0, 1.0)
# Enough for twenty pages of results; a one-letter query would otherwise rank them all.
MAX_RESULTS = 480
MAX_TERMS = 8
# How alike a word must be to a vocabulary word to replace it (difflib's ratio).
CORRECTION_CUTOFF = 0.75
SUGGESTION_CUTOFF = 0.6
MAX_SUGGESTIONS = 3
_PART = re.compile(r"[a-z0-9]+")

# How the products of a result were found, for the page to say so.
ALL_WORDS = "all"
CORRECTED = "corrected"
SOME_WORDS = "some"
NOTHING = "nothing"


@dataclass(frozen=True)
class SearchResult:
    """Products found for ``query``, best first, and how they were found."""

    query: str
    products: list[Product] = field(default_factory=list)
    match: str = NOTHING
    # The query that was searched instead of ``query`` when its words were corrected.
    corrected_query: str = ""
    # Queries to offer ("Did you mean ...?") when nothing was found.
    suggestions: list[str] = field(default_factory=list)


def query_terms(query: str) -> list[tuple[str, ...]]:
    """The words of ``query`` as tuples of index tokens ("t-light" -> ("t", "light"))."""
    terms = [tuple(_PART.findall(word)) for word in words_of(query)]
    return [term for term in terms if term][:MAX_TERMS]


def search_vector() -> SearchVector:
    """The weighted document PostgreSQL searches (and its GIN index covers)."""
    return SearchVector("name", weight="A", config="english") + SearchVector(
        "description", weight="B", config="english"
    )


def _fts_match(terms: list[tuple[str, ...]], operator: str) -> str:
    # Tokens are [a-z0-9]+ only, so quoting them cannot break the FTS5 syntax.
    return f" {operator} ".join('"' + " ".join(term) + '"*' for term in terms)


def _ts_query(terms: list[tuple[str, ...]], operator: str) -> str:
    # Tokens are [a-z0-9]+ only, so they cannot inject tsquery operators.
    return f" {operator} ".join(" <-> ".join(term) + ":*" for term in terms)


def _ranked_pks_sqlite(terms: list[tuple[str, ...]], operator: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s "
            f"ORDER BY bm25({FTS_TABLE}, %s, %s), rowid LIMIT %s",
            [_fts_match(terms, operator), *FTS_WEIGHTS, MAX_RESULTS * 2],
        )
        return [row[0] for row in cursor.fetchall()]


def _ranked_pks_postgresql(terms: list[tuple[str, ...]], operator: str) -> list[int]:
    query = SearchQuery(
        _ts_query(terms, "&" if operator == "AND" else "|"), search_type="raw", config="english"
    )
    return list(
        Product.objects.annotate(document=search_vector())
        .filter(document=query)
        .annotate(rank=SearchRank(search_vector(), query))
        .order_by("-rank", "name", "pk")
        .values_list("pk", flat=True)[: MAX_RESULTS * 2]
    )


def _ranked_pks(terms: list[tuple[str, ...]], operator: str) -> list[int]:
    """Keys of the products matching all (AND) or any (OR) of ``terms``, best first."""
    if connection.vendor == "sqlite":
        return _ranked_pks_sqlite(terms, operator)
    if connection.vendor == "postgresql":
        return _ranked_pks_postgresql(terms, operator)
    raise NotImplementedError(
        f"Product search needs SQLite or PostgreSQL, not {connection.vendor}."
    )


def _active_in_order(pks: list[int], *, first: list[int] = ()) -> list[Product]:
    """The active products of ``first`` then ``pks``, in that order, without repeats."""
    ordered = list(dict.fromkeys([*first, *pks]))
    found = Product.objects.filter(pk__in=ordered, is_active=True).select_related("category")
    by_pk = {product.pk: product for product in found}
    return [by_pk[pk] for pk in ordered if pk in by_pk][:MAX_RESULTS]


def _sku_matches(query: str) -> list[int]:
    """Products whose SKU starts with a one-word query."""
    code = query.strip()
    if not code or " " in code:
        return []
    return list(
        Product.objects.filter(sku__istartswith=code)
        .order_by("sku")
        .values_list("pk", flat=True)[:MAX_RESULTS]
    )


def _vocabulary_stamp() -> tuple[Any, ...]:
    stamp = Product.objects.aggregate(count=Count("pk"), last=Max("pk"), newest=Max("created_at"))
    return stamp["count"], stamp["last"], stamp["newest"]


@lru_cache(maxsize=1)
def _vocabulary(stamp: tuple[Any, ...]) -> Counter[str]:
    """Words of the active products' names with their counts; one per catalog ``stamp``."""
    words: Counter[str] = Counter()
    for name in Product.objects.filter(is_active=True).values_list("name", flat=True):
        words.update(
            part for word in words_of(name) for part in _PART.findall(word) if part.isalpha()
        )
    return words


def vocabulary() -> Counter[str]:
    """The product-name vocabulary, rebuilt when products are added or removed.

    Renaming a product does not rebuild it: the vocabulary only proposes corrections.
    """
    return _vocabulary(_vocabulary_stamp())


def _close_words(word: str, words: Counter[str], *, cutoff: float, n: int) -> list[str]:
    """Vocabulary words like ``word``, most alike first, then most common."""
    matches = difflib.get_close_matches(word, list(words), n=n * 3, cutoff=cutoff)
    return sorted(
        matches,
        key=lambda match: (
            -round(difflib.SequenceMatcher(None, word, match).ratio(), 2),
            -words[match],
        ),
    )[:n]


def _known(part: str, words: Counter[str]) -> bool:
    return part in words or any(word.startswith(part) for word in words)


def corrected_terms(terms: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """``terms`` with each unknown word replaced by the closest product-name word."""
    words = vocabulary()
    corrected = []
    for term in terms:
        parts = []
        for part in term:
            close = (
                []
                if not part.isalpha() or _known(part, words)
                else _close_words(part, words, cutoff=CORRECTION_CUTOFF, n=1)
            )
            parts.append(close[0] if close else part)
        corrected.append(tuple(parts))
    return corrected


def suggestions_for(terms: list[tuple[str, ...]]) -> list[str]:
    """Queries to offer when nothing matches: each unknown word swapped for a close one."""
    words = vocabulary()
    suggestions: list[str] = []
    for index, term in enumerate(terms):
        if not term[-1].isalpha() or term[-1] in words:
            continue
        for close in _close_words(term[-1], words, cutoff=SUGGESTION_CUTOFF, n=MAX_SUGGESTIONS):
            swapped = [*terms[:index], (*term[:-1], close), *terms[index + 1 :]]
            suggestions.append(_terms_text(swapped))
    return list(dict.fromkeys(suggestions))[:MAX_SUGGESTIONS]


def _terms_text(terms: list[tuple[str, ...]]) -> str:
    return " ".join("-".join(term) for term in terms)


def products_search(*, query: str) -> SearchResult:
    """Active products matching ``query``, best first, falling back on corrected words."""
    query = query.strip()
    terms = query_terms(query)
    if not terms:
        return SearchResult(query=query)
    skus = _sku_matches(query)
    found = _active_in_order(_ranked_pks(terms, "AND"), first=skus)
    if found:
        return SearchResult(query=query, products=found, match=ALL_WORDS)
    corrected = corrected_terms(terms)
    if corrected != terms:
        found = _active_in_order(_ranked_pks(corrected, "AND"))
        if found:
            return SearchResult(
                query=query,
                products=found,
                match=CORRECTED,
                corrected_query=_terms_text(corrected),
            )
    if len(terms) > 1:
        found = _active_in_order(_ranked_pks(corrected, "OR"))
        if found:
            return SearchResult(query=query, products=found, match=SOME_WORDS)
    return SearchResult(query=query, suggestions=suggestions_for(terms))


def search_index_rebuild() -> int:
    """Rebuild the SQLite FTS5 index from the products; return how many rows it holds."""
    if connection.vendor != "sqlite":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {FTS_TABLE}")
        cursor.execute(
            f"INSERT INTO {FTS_TABLE}(rowid, name, description) "
            "SELECT id, name, description FROM shop_product"
        )
        cursor.execute(f"SELECT count(*) FROM {FTS_TABLE}")
        return cursor.fetchone()[0]
