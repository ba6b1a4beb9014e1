"""Compile every locale/*/LC_MESSAGES/*.po into its .mo with polib: no gettext system package.

`compilemessages` needs gettext's msgfmt, which a slim image or a fresh machine lacks; the
setup step runs this instead. It refuses (and writes nothing for) a catalogue whose
translations drop or invent a placeholder, the one mistake that turns into a 500 at render time.
"""

import re
from pathlib import Path
from typing import Any

import polib
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

# printf-style placeholders as Python's % operator reads them: %(name)s, %s, %d, %.2f; not %%.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")
# str.format-style placeholders: {name}, {0}; not {{.
BRACE_PLACEHOLDER = re.compile(r"(?<!\{)\{[A-Za-z0-9_]*\}(?!\})")


def placeholders(text: str, *, brace: bool) -> list[str]:
    found = [m for m in PLACEHOLDER.findall(text) if m != "%%"]
    if brace:
        found += BRACE_PLACEHOLDER.findall(text)
    return sorted(found)


def placeholder_errors(entry: polib.POEntry) -> list[str]:
    """Translations of `entry` whose placeholders differ from the msgid's (empty if fine)."""
    if entry.obsolete or not entry.translated():
        return []
    python_format = "python-format" in entry.flags
    brace = "python-brace-format" in entry.flags
    if not (python_format or brace):
        return []
    errors = []
    if entry.msgid_plural:
        # Arabic has six plural forms; each must keep the placeholders of the plural msgid
        # except that a form may leave out the count itself (as "one hour" does).
        expected = placeholders(entry.msgid_plural, brace=brace)
        for index, text in sorted(entry.msgstr_plural.items()):
            got = placeholders(text, brace=brace)
            named_expected = [p for p in expected if "(" in p or "{" in p]
            named_got = [p for p in got if "(" in p or "{" in p]
            if named_got != named_expected or not set(got) <= set(expected):
                errors.append(f"{entry.msgid_plural!r} form {index}: {got} != {expected}")
    else:
        expected = placeholders(entry.msgid, brace=brace)
        got = placeholders(entry.msgstr, brace=brace)
        if got != expected:
            errors.append(f"{entry.msgid!r}: {got} != {expected}")
    return errors


def catalogue_paths() -> list[Path]:
    paths: set[Path] = set()
    for locale_dir in settings.LOCALE_PATHS:
        paths.update(Path(locale_dir).glob("*/LC_MESSAGES/*.po"))
    return sorted(paths)


class Command(BaseCommand):
    help = "Compile the project's .po catalogues into .mo files with polib (no gettext needed)."

    def handle(self, *args: Any, **options: Any) -> None:
        paths = catalogue_paths()
        if not paths:
            raise CommandError("No catalogue found under LOCALE_PATHS (locale/*/LC_MESSAGES/*.po).")
        for path in paths:
            catalogue = polib.pofile(str(path))
            errors = [error for entry in catalogue for error in placeholder_errors(entry)]
            if errors:
                raise CommandError(f"{path}: placeholders differ:\n  " + "\n  ".join(errors))
            # Fuzzy and untranslated entries are left out, as msgfmt does: the English shows.
            catalogue.save_as_mofile(str(path.with_suffix(".mo")))
            if options["verbosity"] >= 1:
                self.stdout.write(
                    f"{path.relative_to(settings.BASE_DIR)}: "
                    f"{len(catalogue.translated_entries())} translated, "
                    f"{len(catalogue.untranslated_entries())} untranslated, "
                    f"{len(catalogue.fuzzy_entries())} fuzzy"
                )
