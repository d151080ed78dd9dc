"""Storefront views: thin wrappers that parse input, call a selector or service, render."""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import quote_etag
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from recommendations.session import SESSION_KEY as RECOMMENDATIONS_SESSION_KEY
from shop import privacy, selectors, services
from shop.cart import Cart
from shop.forms import (
    AccountDeleteForm,
    CartAddForm,
    CartUpdateForm,
    ConsentForm,
    DemoLoginForm,
    ReviewForm,
    SearchForm,
    SharingForm,
    SignupForm,
    ThrottledAuthenticationForm,
)
from shop.login_attempts import login_attempts_clear
from shop.models import Category, CustomerProfile, Product
from shop.product_images import product_image_etag, product_image_svg
from shop.search import products_search
from shop.signals import product_viewed

PRODUCTS_PER_PAGE = 24
IMAGE_MAX_AGE = 24 * 3600
ORDERS_PER_PAGE = 10


def _page(request: HttpRequest, queryset: QuerySet, per_page: int) -> Page:
    # get_page() turns a missing or non-numeric page into the first page and one
    # past the end into the last page, so a bad ?page= never raises.
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def _form_errors_as_text(form) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The front page: personal picks for a shopper with a history, trending, categories."""
    personal = not privacy.personalisation_refused(
        user=request.user
    ) and selectors.shopper_has_history(user=request.user, session_key=request.session.session_key)
    return render(
        request,
        "shop/home.html",
        {
            "categories": selectors.categories_list(),
            "personal": personal,
            "search_form": SearchForm(),
        },
    )


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """Products matching ``?q=``, best first; an empty result offers other queries."""
    form = SearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    result = products_search(query=query)
    return render(
        request,
        "shop/search.html",
        {
            "search_form": form,
            "query": query,
            "result": result,
            "page": _page(request, result.products, PRODUCTS_PER_PAGE),
            # Something to click instead of a dead end.
            "popular_products": (
                selectors.products_popular(limit=8) if query and not result.products else []
            ),
        },
    )


@require_GET
def category(request: HttpRequest, slug: str) -> HttpResponse:
    """The active products of one category."""
    category = get_object_or_404(Category, slug=slug)
    products = selectors.products_for_category(category=category)
    return render(
        request,
        "shop/category.html",
        {"category": category, "page": _page(request, products, PRODUCTS_PER_PAGE)},
    )


def _product_page(
    request: HttpRequest, product: Product, review_form: ReviewForm | None, status: int = 200
) -> HttpResponse:
    refusal = selectors.review_refusal(user=request.user, product=product)
    if review_form is None and not refusal:
        review_form = ReviewForm()
    return render(
        request,
        "shop/product_detail.html",
        {
            "product": product,
            "cart_form": CartAddForm(),
            "in_cart": Cart.of(request).quantity_of(product),
            "reviews": selectors.product_reviews(product=product),
            "rating": selectors.product_rating_summary(product=product),
            "review_form": review_form,
            "review_refusal": refusal,
        },
        status=status,
    )


@require_GET
def product(request: HttpRequest, pk: int) -> HttpResponse:
    """A product page; every visit is recorded and announced with ``product_viewed``."""
    product = selectors.product_detail(pk=pk)
    # Anonymous views are keyed by session, so make sure there is one.
    if not request.session.session_key:
        request.session.create()
    # A customer who turned personalisation off is not tracked: the view counts, anonymously.
    tracked = not privacy.personalisation_refused(user=request.user)
    services.product_view_record(
        product=product,
        user=request.user if tracked else None,
        session_key=request.session.session_key if tracked else "",
    )
    product_viewed.send(sender=Product, product=product, user=request.user, request=request)
    return _product_page(request, product, review_form=None)


def _picture_response(request: HttpRequest, *, name: str, category: str) -> HttpResponse:
    """A drawn SVG picture, cached by browsers a day and then revalidated by its ETag."""
    etag = quote_etag(product_image_etag(name=name, category=category))
    response = get_conditional_response(request, etag=etag) or HttpResponse(
        product_image_svg(name=name, category=category), content_type="image/svg+xml"
    )
    response["ETag"] = etag
    patch_cache_control(response, public=True, max_age=IMAGE_MAX_AGE)
    # Shown through <img> only; opened on its own it may run nothing.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@require_GET
def product_image(request: HttpRequest, pk: int) -> HttpResponse:
    """The drawn picture of a product, from its name and category."""
    product = get_object_or_404(Product.objects.select_related("category"), pk=pk)
    category = product.category.name if product.category else ""
    return _picture_response(request, name=product.name, category=category)


@require_GET
def category_image(request: HttpRequest, slug: str) -> HttpResponse:
    """The drawn picture of a category: the object its name names, in its colours."""
    category = get_object_or_404(Category, slug=slug)
    return _picture_response(request, name=category.name, category=category.name)


@require_POST
def review_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Post a review; errors are shown on the product page under the form."""
    product = selectors.product_detail(pk=pk)
    if not request.user.is_authenticated:
        # Back to the product page after signing in, not to this POST-only URL.
        return redirect_to_login(product.get_absolute_url())
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            services.review_create(user=request.user, product=product, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Thank you for your review."))
            return redirect(product)
    return _product_page(request, product, review_form=form, status=400)


@require_POST
def cart_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a product to the cart."""
    product = get_object_or_404(Product, pk=pk)
    form = CartAddForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors_as_text(form))
        return redirect(product if product.is_active else "shop:cart")
    try:
        Cart.of(request).add(product, form.cleaned_data["quantity"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(product if product.is_active else "shop:cart")
    quantity = form.cleaned_data["quantity"]
    messages.success(
        request,
        _("Added %(quantity)s of %(name)s to your cart.")
        % {"quantity": quantity, "name": product.name},
    )
    return redirect("shop:cart")


@require_POST
def cart_update(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a cart line's quantity; zero removes it."""
    product = get_object_or_404(Product, pk=pk)
    form = CartUpdateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors_as_text(form))
        return redirect("shop:cart")
    try:
        Cart.of(request).set(product, form.cleaned_data["quantity"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Updated %(name)s.") % {"name": product.name})
    return redirect("shop:cart")


@require_GET
def cart(request: HttpRequest) -> HttpResponse:
    """The cart with a line per product and the total."""
    cart = Cart.of(request)
    cart.recover()
    lines = cart.lines()
    return render(
        request,
        "shop/cart.html",
        {
            "lines": lines,
            "total": cart.total(lines),
            "has_unavailable": any(
                not line.product.is_available or line.quantity > line.product.stock_quantity
                for line in lines
            ),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest) -> HttpResponse:
    """GET shows the order summary; POST places the order and empties the cart."""
    cart = Cart.of(request)
    cart.recover()
    # A second "Place order" of a cart the first one placed reads it to find its order.
    if not cart.items(placed_too=request.method == "POST"):
        messages.info(request, _("Your cart is empty."))
        return redirect("shop:cart")
    if request.method == "POST":
        try:
            order, placed = services.checkout_place_cart(user=request.user, cart=cart)
        except services.CheckoutError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("shop:cart")
        if placed:
            text = _("Thank you! Your order %(number)s is placed.")
        else:  # a second click on "Place order" while the first was being placed
            text = _("Your order %(number)s was already placed.")
        messages.success(request, text % {"number": order.number})
        return redirect("shop:order_detail", number=order.number)
    lines = cart.lines()
    return render(request, "shop/checkout.html", {"lines": lines, "total": cart.total(lines)})


@login_required
@require_GET
def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    """One of the signed-in customer's orders; other customers get a 404."""
    order = selectors.order_for_user(user=request.user, number=number)
    return render(request, "shop/order_detail.html", {"order": order})


@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """Order history and the personalisation consent of the signed-in customer."""
    profile = selectors.profile_for_user(user=request.user)
    if request.method == "POST":
        form = ConsentForm(request.POST)
        if form.is_valid():
            consent = form.cleaned_data["personalisation_consent"]
            privacy.personalisation_set(user=request.user, consent=consent)
            if not consent:
                # What this session viewed would otherwise personalise it again later.
                request.session.pop(RECOMMENDATIONS_SESSION_KEY, None)
            messages.success(request, _("Your preferences are saved."))
            return redirect("shop:account")
    else:
        form = ConsentForm(instance=profile)
    return _account_page(request, profile, consent_form=form)


def _account_page(
    request: HttpRequest,
    profile: CustomerProfile | None,
    *,
    consent_form: ConsentForm | None = None,
    sharing_form: SharingForm | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "shop/account.html",
        {
            "profile": profile,
            "consent_form": consent_form or ConsentForm(instance=profile),
            "sharing_form": sharing_form or SharingForm(instance=profile),
            "page": _page(request, selectors.orders_for_user(user=request.user), ORDERS_PER_PAGE),
        },
        status=status,
    )


@login_required
@require_POST
def account_sharing(request: HttpRequest) -> HttpResponse:
    """Save the public name and whether followers see the customer's activity."""
    profile = selectors.profile_for_user(user=request.user)
    form = SharingForm(request.POST, instance=profile)
    if form.is_valid():
        services.profile_sharing_set(
            user=request.user,
            shares_activity=form.cleaned_data["shares_activity"],
            display_name=form.cleaned_data["display_name"],
        )
        messages.success(request, _("Your sharing settings are saved."))
        return redirect("shop:account")
    return _account_page(request, profile, sharing_form=form, status=400)


@require_GET
def person(request: HttpRequest, pk: int) -> HttpResponse:
    """A shopper's public profile: their display name, and to their followers, what they
    bought and reviewed when they share it."""
    shopper = selectors.person_for_profile(pk=pk)
    return render(
        request,
        "shop/person.html",
        {
            "person": shopper,
            "is_me": request.user.is_authenticated and request.user.pk == shopper.pk,
            "following": selectors.follows(follower=request.user, followed=shopper),
            "activity": selectors.shared_activity(person=shopper, viewer=request.user),
        },
    )


@login_required
@require_POST
def person_follow(request: HttpRequest, pk: int) -> HttpResponse:
    """Follow a shopper (signed in, by POST with the CSRF token)."""
    shopper = selectors.person_for_profile(pk=pk)
    try:
        services.follow_create(follower=request.user, followed=shopper)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("You follow %(name)s.") % {"name": shopper.profile.display_name}
        )
    return redirect("shop:person", pk=shopper.pk)


@login_required
@require_POST
def person_unfollow(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop following a shopper."""
    shopper = selectors.person_for_profile(pk=pk)
    if services.follow_delete(follower=request.user, followed=shopper):
        messages.success(
            request, _("You no longer follow %(name)s.") % {"name": shopper.profile.display_name}
        )
    if request.POST.get("next") == "following":
        return redirect("shop:following")
    return redirect("shop:person", pk=shopper.pk)


@login_required
@require_GET
def following(request: HttpRequest) -> HttpResponse:
    """The people the signed-in customer follows."""
    return render(
        request,
        "shop/following.html",
        {"follows": selectors.followed_people(user=request.user)},
    )


@login_required
@require_GET
def account_export(request: HttpRequest) -> HttpResponse:
    """The signed-in customer's own data as a JSON download."""
    data = privacy.account_data_export(user=request.user)
    response = JsonResponse(data, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = 'attachment; filename="my-data.json"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest) -> HttpResponse:
    """Confirm, then delete the signed-in customer's account and sign them out."""
    form = AccountDeleteForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            privacy.account_delete(user=request.user)
        except privacy.AccountDeleteError as exc:
            form.add_error(None, str(exc))
        else:
            logout(request)
            messages.success(request, _("Your account and your personal data are deleted."))
            return redirect("shop:home")
    return render(
        request,
        "shop/account_delete.html",
        {"form": form},
        status=400 if form.is_bound else 200,
    )


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account with its profile and sign the new customer in."""
    if request.user.is_authenticated:
        return redirect("shop:account")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.signup(
                username=data["username"],
                email=data["email"],
                password=data["password1"],
                country=data["country"],
                birth_year=data["birth_year"],
                personalisation_consent=data["personalisation_consent"],
            )
        except ValidationError as exc:  # the name was taken since the form checked it
            form.add_error(None, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome, %(name)s!") % {"name": user.get_username()})
            return redirect("shop:home")
    return render(request, "registration/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Sign in, with the attempts per account and per address limited (shop.login_attempts)."""

    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form: ThrottledAuthenticationForm) -> HttpResponse:
        login_attempts_clear(username=form.get_user().get_username())
        return super().form_valid(form)

    def form_invalid(self, form: ThrottledAuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(math.ceil(form.retry_after))
        return response


def _demo_login_enabled() -> bool:
    return bool(settings.DEBUG or getattr(settings, "DEMO_LOGIN_ENABLED", False))


@require_http_methods(["GET", "POST"])
def demo_login(request: HttpRequest) -> HttpResponse:
    """Sign in as an imported customer by number; only with DEBUG or DEMO_LOGIN_ENABLED."""
    if not _demo_login_enabled():
        raise Http404("The demo sign-in is disabled.")
    form = DemoLoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        number = form.cleaned_data["customer_number"]
        user = selectors.demo_customer_user(number=number)
        if user is None:
            form.add_error("customer_number", f"There is no imported customer {number}.")
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request,
                _("You are signed in as imported customer %(number)s.") % {"number": number},
            )
            return redirect("shop:account")
    return render(
        request,
        "registration/demo_login.html",
        {"form": form, "sample": selectors.demo_customers_sample(limit=5)},
    )
