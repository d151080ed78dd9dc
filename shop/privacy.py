"""A customer's privacy controls: personalisation consent, data export, account deletion.

Deleting an account removes the user, their profile, product views, reviews and
follows both ways (CASCADE; row by row, so every follower's lists stop counting them at
once), every stored session signed in as them and those sessions' carts, and detaches
their orders (``Order.user`` is SET_NULL): the shop keeps its sales for accounting, but
nothing links them to a person any more, so no training reads them as anyone's
history. The recommendations app forgets the user in the same transaction, by itself
on the user's deletion (its receiver runs :func:`recommendations.privacy.user_forget`);
its artifact storage being down does not stop the deletion.
"""

from __future__ import annotations

import binascii
import json
import zlib
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core import signing
from django.db import DatabaseError, transaction
from django.utils import timezone

from recommendations.privacy import user_cache_delete, user_data_export
from shop import services
from shop.cart import TOKEN_SESSION_KEY, carts_forget
from shop.models import CustomerProfile, Follow, Order, ProductView, Review
from shop.sessions import database_session_store

# Said in every download, as the account pages say it: what outlives a deleted account.
KEPT_AFTER_DELETION = (
    "If you delete your account, everything in this file is deleted at once except your "
    "orders: their number, date, country, products, quantities and prices are kept for "
    "the shop's accounting, detached from the account, so they are no longer linked to "
    "you and our recommendations never learn from them as anyone's history. Figures over "
    "all shoppers that your purchases counted in (such as products bought together) keep "
    "that unattributed contribution until the recommendations are next trained."
)


class AccountDeleteError(RuntimeError):
    """The account could not be deleted; nothing was changed."""


def personalisation_refused(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether a signed-in customer turned personalisation off (or has no profile)."""
    if not user.is_authenticated:
        return False
    return not CustomerProfile.objects.filter(user=user, personalisation_consent=True).exists()


def personalisation_set(*, user: AbstractBaseUser, consent: bool) -> CustomerProfile:
    """Turn personalisation on or off; lists cached for the customer are dropped."""
    profile = services.profile_consent_set(user=user, consent=consent)
    user_cache_delete(user_pk=user.pk)
    return profile


def _orders(user: AbstractBaseUser) -> list[dict[str, Any]]:
    orders = Order.objects.filter(user=user).prefetch_related("lines__product").order_by("pk")
    return [
        {
            "number": order.number,
            "status": order.status,
            "country": order.country,
            "created_at": order.created_at,
            "total": order.total,
            "lines": [
                {
                    "product_id": line.product_id,
                    "sku": line.product.sku,
                    "name": line.product.name,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "line_total": line.line_total,
                }
                for line in order.lines.all()
            ],
        }
        for order in orders
    ]


def _follows(follows: Any, other: str) -> list[dict[str, Any]]:
    rows = follows.order_by("created_at", "pk").values(
        f"{other}_id", f"{other}__profile__display_name", "created_at"
    )
    return [
        {
            "user_id": row[f"{other}_id"],
            "display_name": row[f"{other}__profile__display_name"],
            "since": row["created_at"],
        }
        for row in rows
    ]


def account_data_export(*, user: AbstractBaseUser) -> dict[str, Any]:
    """Everything the shop and its recommendations hold about ``user``, JSON-ready."""
    profile = (
        CustomerProfile.objects.filter(user=user)
        .values(
            "external_id",
            "country",
            "birth_year",
            "personalisation_consent",
            "display_name",
            "shares_activity",
        )
        .first()
    )
    views = (
        ProductView.objects.filter(user=user)
        .order_by("viewed_at", "pk")
        .values("product_id", "product__sku", "product__name", "viewed_at")
    )
    reviews = (
        Review.objects.filter(user=user)
        .order_by("created_at", "pk")
        .values(
            "product_id", "product__name", "rating", "title", "text", "created_at", "is_approved"
        )
    )
    return {
        "exported_at": timezone.now(),
        "kept_after_account_deletion": KEPT_AFTER_DELETION,
        "account": {
            "username": user.get_username(),
            "email": getattr(user, "email", ""),
            "first_name": getattr(user, "first_name", ""),
            "last_name": getattr(user, "last_name", ""),
            "date_joined": getattr(user, "date_joined", None),
            "last_login": user.last_login,
        },
        "profile": profile,
        "orders": _orders(user),
        "product_views": list(views),
        "reviews": list(reviews),
        # Both ways, by public name: whom the customer follows and who follows them.
        "following": _follows(Follow.objects.filter(follower=user), "followed"),
        "followers": _follows(Follow.objects.filter(followed=user), "follower"),
        "recommendations": user_data_export(user=user),
    }


def _signed_payload(data: str) -> bytes:
    """The serialized data inside a signed session value, unverified; b"" if unreadable."""
    payload = data.split(":", 1)[0].encode()
    try:
        raw = signing.b64_decode(payload.removeprefix(b"."))
        return zlib.decompress(raw) if payload.startswith(b".") else raw
    except (binascii.Error, zlib.error, ValueError):
        return b""


def sessions_delete(*, user_pk: Any) -> int:
    """Delete every stored session signed in as the user (expired ones too) and their
    carts; how many sessions.

    Session data is signed and usually compressed, so no query can find the user in
    it: one pass reads only the rows' keys and data, a chunk at a time. Verifying each
    signature costs most of the time, so with the JSON serializer a cheap look for the
    user's key in the unverified data picks the few candidates, and only those are
    decoded for real. Cookie and cache-only engines keep nothing in the database.
    """
    store = database_session_store()
    if store is None:
        return 0
    decoder, wanted = store(), str(user_pk)
    # Exactly as signing.JSONSerializer writes the pair (an escaped value never matches).
    needle = json.dumps({SESSION_KEY: wanted}, separators=(",", ":"))[1:-1].encode()
    prefilter = decoder.serializer is signing.JSONSerializer
    rows = store.get_model_class()._default_manager.values_list("session_key", "session_data")
    sessions = {
        key: decoded
        for key, data in rows.iterator(chunk_size=2000)
        if (not prefilter or needle in _signed_payload(data))
        and (decoded := decoder.decode(data)).get(SESSION_KEY) == wanted
    }
    # Their carts go with them (a cart is named by its session).
    tokens = [token for data in sessions.values() if (token := data.get(TOKEN_SESSION_KEY))]
    carts_forget(session_keys=list(sessions), tokens=tokens)
    for key in sessions:
        store(session_key=key).delete()  # cached_db: the cached copy too
    return len(sessions)


def account_delete(*, user: AbstractBaseUser) -> None:
    """Delete the account and everything personal; orders stay, detached. All or nothing.

    The recommendations' artifact storage being down does not stop it: the user is
    forgotten by every model all the same and their artifacts are rewritten later.
    Raises AccountDeleteError, leaving the account as it was, when the database fails.
    """
    user_pk = user.pk
    try:
        with transaction.atomic():
            # The recommendations app forgets the user on the deletion's post_delete,
            # inside this transaction (and after SQLite's write lock is taken).
            user.delete()
            sessions_delete(user_pk=user_pk)
    except BaseException as exc:
        # The rollback restored the rows; the instance must say so too.
        user.pk = user_pk
        if isinstance(exc, DatabaseError):
            raise AccountDeleteError(
                "Your account could not be deleted just now; nothing was changed. "
                "Please try again later."
            ) from exc
        raise
