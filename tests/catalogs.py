"""Reading gettext catalogs (.po) in tests, without a dependency."""

from __future__ import annotations

import ast
import gettext
import re
import shutil
from pathlib import Path

import pytest

# The checks that run GNU gettext itself (./bin/test leaves them out, and says so, where
# it is not installed; CI installs it).
needs_gettext = pytest.mark.skipif(
    not (shutil.which("msgfmt") and shutil.which("xgettext") and shutil.which("msgmerge")),
    reason="GNU gettext (msgfmt, xgettext, msgmerge) is not installed",
)
# A named placeholder of a python-format message: %(name)s, %(count)d ...
PLACEHOLDER = re.compile(r"%\((\w+)\)")


def po_entries(path: Path) -> dict[str | tuple[str, str], dict]:
    """The entries of a .po file by msgid (or (msgid, msgid_plural)), obsolete ones left out.

    Each entry: ``msgstr`` (a list: one string, or one per plural form) and ``fuzzy``.
    """
    entries = {}
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#~")]
        fields: dict[str, str] = {}
        current = None
        for line in lines:
            if line.startswith("#"):
                continue
            keyword, _, value = line.partition(" ")
            if not line.startswith('"'):
                current = keyword
                fields[current] = ""
            else:
                value = line
            fields[current] += ast.literal_eval(value)
        if "msgid" not in fields or not fields["msgid"]:
            continue  # the header, or nothing but obsolete entries
        plural = fields.get("msgid_plural")
        key = (fields["msgid"], plural) if plural is not None else fields["msgid"]
        forms = sorted(k for k in fields if k.startswith("msgstr"))
        entries[key] = {
            "msgstr": [fields[form] for form in forms],
            "fuzzy": any("fuzzy" in line for line in lines if line.startswith("#,")),
        }
    return entries


def catalog_translations(path: Path) -> dict[str | tuple[str, int], str]:
    """The translations of a .po file as a compiled catalog holds them, after asserting
    that every entry is translated, none is fuzzy and each keeps its placeholders."""
    translations: dict[str | tuple[str, int], str] = {}
    for key, entry in po_entries(path).items():
        msgid = key if isinstance(key, str) else key[0]
        assert not entry["fuzzy"], f"fuzzy: {msgid!r}"
        assert all(entry["msgstr"]), f"untranslated: {msgid!r}"
        for msgstr in entry["msgstr"]:
            assert set(PLACEHOLDER.findall(msgstr)) == set(PLACEHOLDER.findall(msgid)), msgid
        if isinstance(key, str):
            translations[key] = entry["msgstr"][0]
        else:
            translations.update({(msgid, n): form for n, form in enumerate(entry["msgstr"])})
    return translations


def compiled_translations(path: Path) -> dict[str | tuple[str, int], str]:
    """The translations of a compiled catalog (.mo), its header left out."""
    with path.open("rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)._catalog
    return {key: value for key, value in catalog.items() if key != ""}
