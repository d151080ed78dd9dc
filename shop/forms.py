"""Forms of the storefront; each one turns bad input into a form error, never a 500."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy

from recommendations.serving.social import shown_name
from shop.login_attempts import login_attempt_record
from shop.models import CustomerProfile, Review

# Imported customers are named "customer-<CustomerID>" and reached through the demo sign-in.
RESERVED_USERNAME_PREFIX = "customer-"
MAX_CART_QUANTITY = 9999


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, refusing to check a password after too many attempts."""

    #: Seconds until another attempt is allowed, when this one was refused.
    retry_after: float | None = None

    def clean(self) -> dict:
        username = self.cleaned_data.get("username") or ""
        self.retry_after = login_attempt_record(request=self.request, username=username)
        if self.retry_after is not None:
            minutes = max(1, math.ceil(self.retry_after / 60))
            raise ValidationError(
                ngettext(
                    "Too many sign-in attempts. Try again in %(minutes)d minute.",
                    "Too many sign-in attempts. Try again in %(minutes)d minutes.",
                    minutes,
                ),
                code="throttled",
                params={"minutes": minutes},
            )
        return super().clean()


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        max_length=100,
        required=False,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Search by name, word or SKU")}
        ),
    )


class CartAddForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, max_value=MAX_CART_QUANTITY, initial=1)


class CartUpdateForm(forms.Form):
    quantity = forms.IntegerField(
        min_value=0, max_value=MAX_CART_QUANTITY, help_text=_("Zero removes the product.")
    )


RATING_CHOICES = [
    (stars, ngettext_lazy("%(count)d star", "%(count)d stars", "count") % {"count": stars})
    for stars in range(1, 6)
]


#: The longest review text accepted (characters).
REVIEW_TEXT_MAX = 5000


class ReviewForm(forms.ModelForm):
    # Five choices drawn as stars: no zero to pick, and none outside 1-5 accepted.
    rating = forms.TypedChoiceField(
        label=_("Rating"),
        choices=RATING_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose a rating from 1 to 5 stars."),
            "invalid_choice": _("Choose a rating from 1 to 5 stars."),
        },
    )

    class Meta:
        model = Review
        fields = ["rating", "title", "text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 4, "maxlength": REVIEW_TEXT_MAX})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The model's text has no limit, but every visitor of the product page gets it.
        self.fields["text"].validators.append(MaxLengthValidator(REVIEW_TEXT_MAX))


class SignupForm(UserCreationForm):
    email = forms.EmailField(label=_("Email"))
    country = forms.CharField(label=_("Country"), max_length=64)
    birth_year = forms.IntegerField(
        label=_("Birth year"),
        required=False,
        validators=[MinValueValidator(1900), MaxValueValidator(2100)],
        help_text=_("Optional."),
    )
    personalisation_consent = forms.BooleanField(
        required=False,
        initial=True,
        label=_("Use my shopping history to personalise the store"),
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_username(self) -> str:
        """Refuse the names reserved for imported customers."""
        username = super().clean_username()
        if username and username.lower().startswith(RESERVED_USERNAME_PREFIX):
            raise forms.ValidationError(
                _("Names starting with “customer-” are reserved for imported customers.")
            )
        return username


class ConsentForm(forms.ModelForm):
    class Meta:
        model = CustomerProfile
        fields = ["personalisation_consent"]


class SharingForm(forms.ModelForm):
    """The customer's public name and whether followers see their purchases and reviews."""

    class Meta:
        model = CustomerProfile
        fields = ["display_name", "shares_activity"]
        labels = {
            "display_name": _("Public name"),
            "shares_activity": _("Show my purchases and reviews to the people who follow me"),
        }
        error_messages = {"display_name": {"required": _("Choose a public name.")}}

    def clean_display_name(self) -> str:
        """A visible name of printable characters, without surrounding spaces."""
        name = " ".join(self.cleaned_data["display_name"].split())
        if not name:
            raise ValidationError(_("Choose a public name."))
        # Control and format characters (zero-width spaces, direction overrides) and
        # blank fillers would make the name invisible, or turn around the sentence that
        # tells it: the app would tell such a name without them.
        if shown_name(name) != name:
            raise ValidationError(
                _("Use only visible characters: no control, zero-width or direction marks.")
            )
        return name


class DemoLoginForm(forms.Form):
    customer_number = forms.RegexField(
        regex=r"^\d{1,10}$",
        label=_("Customer number"),
        error_messages={"invalid": _("Type the customer number as digits, e.g. 17850.")},
    )

    def clean_customer_number(self) -> str:
        """Drop leading zeros, as the importer does for CustomerIDs."""
        return str(int(self.cleaned_data["customer_number"]))


class AccountDeleteForm(forms.Form):
    """Confirm deleting the account: the password, or the username without a password."""

    confirmation = forms.CharField(strip=False, max_length=128)

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        field = self.fields["confirmation"]
        if user.has_usable_password():
            field.label = _("Your password")
            field.widget = forms.PasswordInput(attrs={"autocomplete": "current-password"})
        else:
            # Imported customers sign in without a password: they type their name instead.
            field.label = _("Type your username (%(name)s) to confirm") % {
                "name": user.get_username()
            }
            field.widget = forms.TextInput(attrs={"autocomplete": "off"})

    def clean_confirmation(self) -> str:
        """Refuse a wrong password or username."""
        value = self.cleaned_data["confirmation"]
        if self.user.has_usable_password():
            if not self.user.check_password(value):
                raise forms.ValidationError(_("That is not your password."))
        elif value.strip() != self.user.get_username():
            raise forms.ValidationError(_("Type your username exactly as shown."))
        return value
