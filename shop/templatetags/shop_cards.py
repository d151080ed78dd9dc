"""The shop's product card as a tag, for the cards the recommendation blocks show.

The recommendations app keeps the instances its blocks show for the process, until the
catalog changes or ``CACHE_TIMEOUT`` passes (``recommendations.serving.catalog``), and
shows them on page after page. A card shows its product alone, so such an instance
keeps its card, rendered once per language and link instead of once per page.
"""

from __future__ import annotations

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from shop.models import Product

register = template.Library()

CARD_TEMPLATE = "shop/_product_card.html"
# Where an instance keeps its rendered cards, by (language, link).
CARDS_ATTRIBUTE = "_shop_cards"


@register.simple_tag(takes_context=True)
def product_card(
    context: template.Context, product: Product, url: str | None = None
) -> SafeString:
    """``shop/_product_card.html`` for ``product``, linked to ``url`` (else its page).

    Rendered without the page's context: the product and the link are all it shows. The
    instance keeps it, so it must not change once shown (the kept instances are replaced,
    never changed); while templates are being edited (the engine's ``debug``), it is
    rendered every time.
    """
    if context.template.engine.debug:
        return _card(product, url)
    cards = product.__dict__.setdefault(CARDS_ATTRIBUTE, {})
    key = (get_language(), url)
    card = cards.get(key)
    if card is None:
        card = cards[key] = _card(product, url)
    return card


def _card(product: Product, url: str | None) -> SafeString:
    return render_to_string(CARD_TEMPLATE, {"product": product, "product_url": url})
