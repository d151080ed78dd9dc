"""The host's product page, where the README's template shows the blocks."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from store.models import Product


def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk)
    return render(request, "store/product_detail.html", {"product": product})
