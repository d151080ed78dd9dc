"""Signals the storefront sends so other apps can react without being imported here."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by the product detail view on every GET, after the view is recorded.
# Keyword arguments: sender (the Product class), product, user (may be anonymous), request.
product_viewed = Signal()
