"""Every signal receiver of the app, connected in ``AppConfig.ready()``.

They keep the shared cache current for every process, whichever process writes: a
web worker, a Celery worker or a management command that never served a list. An
event saved joins (or drops) its user's cached history, a catalog save makes cached
lists check their items' availability again, a consent change moves the user's cache
to a new generation, a follow moves the follower's (a change of sharing, the followers'),
an item rule's save drops the cached rules, and a deleted user is forgotten
(:func:`recommendations.privacy.user_forget`), however the host deletes them: the
admin, ``user.delete()`` or a queryset's ``delete()``. A change of the
``RECOMMENDATIONS`` setting (tests make them) connects the receivers again.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models, transaction
from django.db.models.signals import post_delete, post_init, post_save

from recommendations.adapters import get_adapter, user_has_active_flag
from recommendations.conf import app_settings
from recommendations.models import ItemRule
from recommendations.privacy import user_forget
from recommendations.rate_batches import batches
from recommendations.rules import rules_changed
from recommendations.services import catalog_changed, social_changed
from recommendations.serving.history import history_event_add, history_forget
from recommendations.serving.keys import user_generation_bump
from recommendations.serving.near_cache import near_cache
from recommendations.serving.state import process_state

# Settings the app's kept values are read from (the host's own default throttle rates).
KEPT_FROM_SETTINGS = frozenset({"RECOMMENDATIONS", "REST_FRAMEWORK"})
# Settings whose change gives a language other catalogs (as Django's test signals read them).
TRANSLATION_SETTINGS = frozenset({"INSTALLED_APPS", "LANGUAGES", "LANGUAGE_CODE", "LOCALE_PATHS"})
# Where a loaded user keeps whether it was active (a save that changes it is told apart).
ACTIVE_AS_LOADED = "_recommendations_active_as_loaded"
# What a wrong setting raises while connecting: nothing is connected then.
SETTING_ERRORS = (ImproperlyConfigured, ImportError, LookupError, ValueError, FieldDoesNotExist)


def _lookup_value(instance: models.Model, lookup: str) -> Any:
    """The value at the end of ``lookup`` (``order__user``) from one row, or None."""
    *relations, last = lookup.split("__")
    target: Any = instance
    for relation in relations:
        target = getattr(target, relation, None)
        if target is None:
            return None
    try:
        # The column (``user_id``), not the related row: no query for the last step.
        return getattr(target, target._meta.get_field(last).attname, None)
    except (AttributeError, FieldDoesNotExist):
        return None


def history_changed(
    sender: type[models.Model], instance: models.Model, created: bool = False, **kwargs: Any
) -> None:
    """Keep the cached history of an event row's user current, or drop it.

    A new row of a source without FILTER or VALUE_FIELD (a product view) is added to
    the cached history, so a page view does not cost the next page a fresh read; any
    other change drops it. An empty history is dropped too: it may mean no consent.
    """
    for source in app_settings.EVENT_SOURCES:
        if apps.get_model(source.model) is not sender:
            continue
        user_pk = _lookup_value(instance, source.user_field)
        if user_pk is None:
            continue
        simple = created and not source.filter and not source.value_field and source.weight
        item_pk = _lookup_value(instance, source.item_field)
        timestamp = _lookup_value(instance, source.time_field)
        if simple and item_pk is not None and timestamp is not None:
            row = (item_pk, source.name, float(source.weight), timestamp)
            history_event_add(get_adapter(), user_pk, row)
        else:
            history_forget(user_pk)


def consent_changed(
    sender: type[models.Model],
    instance: models.Model,
    update_fields: frozenset[str] | None = None,
    **kwargs: Any,
) -> None:
    """Move a user's cache to a new generation when the row holding their consent changes."""
    lookup = app_settings.CONSENT_FIELD
    if not lookup:
        return  # the setting changed since the signal was connected (tests do)
    if update_fields is not None and lookup.split("__")[-1] not in update_fields:
        return  # another field saved alone (the last login): the consent did not change
    user_pk = instance.pk if sender is get_user_model() else _consent_holder(sender, instance)
    if user_pk is not None:
        user_generation_bump(user_pk)
        history_forget(user_pk)


def _consent_holder(sender: type[models.Model], instance: models.Model) -> Any:
    """The user of a row that holds a consent one relation away from the user."""
    relation = get_user_model()._meta.get_field(app_settings.CONSENT_FIELD.split("__")[0])
    if relation.related_model is not sender or not hasattr(relation, "field"):
        return None
    return getattr(instance, relation.field.attname, None)


def follow_changed(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """A follow made or undone (an account deletion undoes its follows both ways): the
    follower's lists, and both users' of a mutual relation, are computed afresh."""
    relation = app_settings.SOCIAL
    if relation is None:
        return
    users = [_lookup_value(instance, relation.follower_field)]
    if relation.mutual:
        users.append(_lookup_value(instance, relation.followed_field))
    # Who follows anyone first: a list computed in a new generation must not use the
    # followers a process held before the change.
    social_changed()
    transaction.on_commit(social_changed)
    _generations_bump([user_pk for user_pk in users if user_pk is not None])


def _generations_bump(user_pks: list[Any]) -> None:
    """Bump now, and again once the transaction commits: a list computed in between
    (from the rows before the change) would otherwise be cached under the new one."""

    def bump() -> None:
        for user_pk in user_pks:
            user_generation_bump(user_pk)

    bump()
    transaction.on_commit(bump)


def sharing_changed(
    sender: type[models.Model],
    instance: models.Model,
    created: bool = False,
    update_fields: frozenset[str] | None = None,
    **kwargs: Any,
) -> None:
    """A user's sharing, display name, consent or being active may have changed: the
    lists of the people following them must not keep naming (or counting) them."""
    relation = app_settings.SOCIAL
    if relation is None:
        return
    is_user = sender is get_user_model()
    active_changed = is_user and _active_changed(instance)
    if created and is_user:
        return  # nobody follows a new account yet
    lookups = [
        lookup
        for lookup in (
            relation.sharing_field,
            relation.display_name_field,
            app_settings.CONSENT_FIELD,
        )
        if lookup
    ]
    watched = {lookup.split("__")[-1] for lookup in lookups} | {"is_active"}
    if update_fields is not None and not watched & set(update_fields):
        return  # another field saved alone (the last login)
    if is_user and not active_changed and all("__" in lookup for lookup in lookups):
        return  # nothing lists tell is on the user but its being active (a new password)
    user_pk = instance.pk if is_user else _holder_user(sender, instance)
    if user_pk is None:
        return
    if active_changed:
        # A deactivated follower follows nobody now: who follows anyone is read again.
        social_changed()
        transaction.on_commit(social_changed)
    _generations_bump(get_adapter().user_followers(user_pk))


def active_loaded(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """Remember whether a user was active as loaded, to tell a save that changed it."""
    instance.__dict__[ACTIVE_AS_LOADED] = instance.__dict__.get("is_active")


def _active_changed(instance: models.Model) -> bool:
    """Whether ``is_active`` changed since the user was loaded or last saved."""
    if not user_has_active_flag():
        return False
    now = instance.__dict__.get("is_active")
    before = instance.__dict__.get(ACTIVE_AS_LOADED, now)
    instance.__dict__[ACTIVE_AS_LOADED] = now
    return before != now


def _holder_user(sender: type[models.Model], instance: models.Model) -> Any:
    """The user of a row one relation away from the user (a profile), or None."""
    relation = app_settings.SOCIAL
    lookups = [relation.sharing_field, relation.display_name_field, app_settings.CONSENT_FIELD]
    for lookup in lookups:
        if not lookup or "__" not in lookup:
            continue
        field = get_user_model()._meta.get_field(lookup.split("__")[0])
        if field.related_model is sender and hasattr(field, "field"):
            return getattr(instance, field.field.attname, None)
    return None


def _social_connect() -> None:
    """Connect the follow model and the rows holding sharing, names and consent."""
    relation = app_settings.SOCIAL
    if relation is None:
        return
    model = apps.get_model(relation.model)
    uid = f"recommendations-follow-{model._meta.label_lower}"
    post_save.connect(follow_changed, sender=model, dispatch_uid=uid)
    post_delete.connect(follow_changed, sender=model, dispatch_uid=uid)
    holders = set()
    for lookup in (
        relation.sharing_field,
        relation.display_name_field,
        app_settings.CONSENT_FIELD,
    ):
        if lookup and lookup.count("__") <= 1:
            holder = get_user_model()
            if "__" in lookup:
                holder = holder._meta.get_field(lookup.split("__")[0]).related_model
            holders.add(holder)
    if user_has_active_flag():
        holders.add(get_user_model())  # a deactivated account leaves the social signal
        post_init.connect(
            active_loaded, sender=get_user_model(), dispatch_uid="recommendations-user-active"
        )
    for holder in holders:
        uid = f"recommendations-sharing-{holder._meta.label_lower}"
        post_save.connect(sharing_changed, sender=holder, dispatch_uid=uid)


def user_deleted(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """Forget a deleted user in the deleting transaction (Django deletes in one).

    The tombstone and the rewritten serving artifacts stand only if the deletion
    commits; caches and the other artifacts follow on commit. A failure other than the
    artifact storage's rolls the deletion back, leaving everything as it was.
    """
    user_forget(user_pk=instance.pk)


def catalog_saved(**kwargs: Any) -> None:
    """A catalog row saved or deleted: the catalog and its instances are read again."""
    catalog_changed()


def _models_connect() -> None:
    """Connect the model receivers to the models the current setting names."""
    post_save.connect(rules_changed, sender=ItemRule, dispatch_uid="recommendations-rules")
    post_delete.connect(rules_changed, sender=ItemRule, dispatch_uid="recommendations-rules")
    post_delete.connect(
        user_deleted, sender=get_user_model(), dispatch_uid="recommendations-user-deleted"
    )
    catalog = get_adapter().catalog_model()
    uid = f"recommendations-catalog-{catalog._meta.label_lower}"
    post_save.connect(catalog_saved, sender=catalog, dispatch_uid=uid)
    post_delete.connect(catalog_saved, sender=catalog, dispatch_uid=uid)
    for source in app_settings.EVENT_SOURCES:
        model = apps.get_model(source.model)
        uid = f"recommendations-history-{model._meta.label_lower}"
        post_save.connect(history_changed, sender=model, dispatch_uid=uid)
        post_delete.connect(history_changed, sender=model, dispatch_uid=uid)
    lookup = app_settings.CONSENT_FIELD
    if lookup and lookup.count("__") <= 1:
        # The consent is on the user or one relation away (a profile); further away,
        # a change shows when the cached history expires.
        holder = get_user_model()
        if "__" in lookup:
            holder = holder._meta.get_field(lookup.split("__")[0]).related_model
        uid = f"recommendations-consent-{holder._meta.label_lower}"
        post_save.connect(consent_changed, sender=holder, dispatch_uid=uid)
    _social_connect()


def _models_connect_quietly() -> None:
    # A wrong setting is left to the system checks to explain.
    with suppress(*SETTING_ERRORS):
        _models_connect()


def settings_changed(*, setting: str, **kwargs: Any) -> None:
    """Read the setting again and reconnect when it changes (tests change them)."""
    if setting in KEPT_FROM_SETTINGS:
        app_settings.reload()
    if setting in TRANSLATION_SETTINGS:  # other catalogs: Django forgets its own too
        process_state.translated.clear()
        process_state.bodies.clear()  # the lists' rendered bodies hold their reasons' words
    if setting in ("RECOMMENDATIONS", "AUTH_USER_MODEL"):
        _models_connect_quietly()
    if setting in ("RECOMMENDATIONS", "REST_FRAMEWORK", "CACHES", "DATABASES"):
        batches.clear()  # counted under other rates, or in another counter store
        near_cache.clear()  # kept from another cache, or under another setting


def receivers_connect() -> None:
    """Connect every receiver of the app (``AppConfig.ready()``)."""
    setting_changed.connect(settings_changed, dispatch_uid="recommendations-settings")
    _models_connect_quietly()
