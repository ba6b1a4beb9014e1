"""The Arabic catalogue is complete and correct, and the portal speaks Arabic right-to-left.

Extraction needs gettext's xgettext: locally the extraction test skips without it; in CI
(QZ_REQUIRE_SERVICES=1) it must run.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory, override_settings
from django.utils import translation

from apps.accounts.views import server_error
from tests.conftest import need_service

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "ar" / "LC_MESSAGES" / "django.po"
# Python's %-placeholders (%(name)s, %s, %d, %.2f) and str.format's {name}; "%%" is a percent sign.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdifr]|\{\w*\}")


def _catalogue() -> polib.POFile:
    return polib.pofile(str(CATALOGUE))


def _key(entry: polib.POEntry) -> str:
    return f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid


def test_catalogue_has_no_untranslated_or_fuzzy_entries() -> None:
    catalogue = _catalogue()
    untranslated = [_key(e) for e in catalogue.untranslated_entries()]
    fuzzy = [_key(e) for e in catalogue.fuzzy_entries()]
    assert untranslated == []
    assert fuzzy == []
    assert catalogue.metadata["Language"] == "ar"
    assert catalogue.metadata["Plural-Forms"].startswith("nplurals=6;")


def test_catalogue_plural_entries_have_all_six_arabic_forms() -> None:
    incomplete = [
        _key(e)
        for e in _catalogue()
        if e.msgid_plural and sorted(e.msgstr_plural) != [0, 1, 2, 3, 4, 5]
    ]
    assert incomplete == []


def test_catalogue_translations_keep_placeholders() -> None:
    problems = []
    for entry in _catalogue():
        if entry.msgid_plural:
            expected = sorted(set(PLACEHOLDER.findall(entry.msgid_plural)))
            for index, text in entry.msgstr_plural.items():
                if sorted(set(PLACEHOLDER.findall(text))) != expected:
                    problems.append(f"{entry.msgid_plural!r}[{index}]: {text!r}")
        elif sorted(PLACEHOLDER.findall(entry.msgid)) != sorted(PLACEHOLDER.findall(entry.msgstr)):
            problems.append(f"{entry.msgid!r}: {entry.msgstr!r}")
    assert problems == []


def test_catalogue_translations_are_arabic() -> None:
    # A copied English msgstr would count as "translated"; every entry must carry Arabic script.
    arabic = re.compile(r"[\u0600-\u06ff]")
    not_arabic = [
        _key(e)
        for e in _catalogue()
        if not arabic.search(e.msgstr or " ".join(e.msgstr_plural.values()))
    ]
    assert not_arabic == []


def test_compiled_catalogue_is_current() -> None:
    compiled = CATALOGUE.with_suffix(".mo")
    assert compiled.exists(), "run: manage.py compiletranslations"
    assert compiled.stat().st_mtime >= CATALOGUE.stat().st_mtime, (
        "django.mo is older than django.po: run manage.py compiletranslations"
    )


def test_compiletranslations_writes_mo_readable_by_gettext(tmp_path: Path) -> None:
    messages = tmp_path / "ar" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    shutil.copy(CATALOGUE, messages / "django.po")
    with override_settings(LOCALE_PATHS=[tmp_path]):
        call_command("compiletranslations", verbosity=0)
    compiled = polib.mofile(str(messages / "django.mo"))
    assert compiled.find("Sign in").msgstr == "تسجيل الدخول"
    assert compiled.find("Welcome, %(name)s").msgstr == "مرحبًا، %(name)s"


def test_compiletranslations_refuses_a_lost_placeholder(tmp_path: Path) -> None:
    messages = tmp_path / "ar" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    catalogue = polib.POFile()
    catalogue.metadata = {"Content-Type": "text/plain; charset=UTF-8", "Language": "ar"}
    catalogue.append(
        polib.POEntry(msgid="Welcome, %(name)s", msgstr="مرحبًا", flags=["python-format"])
    )
    catalogue.save(str(messages / "django.po"))
    with (
        override_settings(LOCALE_PATHS=[tmp_path]),
        pytest.raises(CommandError, match=r"Welcome, %\(name\)s"),
    ):
        call_command("compiletranslations", verbosity=0)
    assert not (messages / "django.mo").exists()


def test_every_marked_string_is_in_the_catalogue(tmp_path: Path) -> None:
    """Extract the project's strings into a copy of its locale and name any not translated."""
    need_service("gettext (xgettext)", shutil.which("xgettext") is not None)
    base = Path(settings.BASE_DIR)
    copy = tmp_path / "project"
    shutil.copytree(
        base,
        copy,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "staticfiles",
            "node_modules",
            "test-artifacts",
            "__pycache__",
            "*.pyc",
            "*.mo",
            "db.sqlite3",
            ".pytest_cache",
            ".ruff_cache",
            "bench",
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "--locale",
            "ar",
            "--no-obsolete",
            "--no-location",
            "--ignore",
            ".venv/*",
            "--ignore",
            "staticfiles/*",
        ],
        cwd=copy,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "1", "HOME": str(tmp_path)},
        check=True,
        capture_output=True,
        timeout=240,
    )
    extracted = polib.pofile(str(copy / "locale" / "ar" / "LC_MESSAGES" / "django.po"))
    missing = sorted(_key(e) for e in extracted if not e.translated() or "fuzzy" in e.flags)
    assert not missing, "run `make messages` and translate:\n" + "\n".join(missing)


def test_login_page_in_arabic_is_right_to_left(client: Client) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ar"
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert '<html lang="ar" dir="rtl">' in response.text
    assert "تسجيل الدخول" in response.text


def test_home_page_follows_users_saved_language(client: Client, trader) -> None:
    trader.language = "ar"
    trader.save(update_fields=["language"])
    client.force_login(trader)
    response = client.get("/")
    assert '<html lang="ar" dir="rtl">' in response.text
    assert "مرحبًا، trader" in response.text
    assert "المراكز" in response.text  # "Positions", in the trading sense


def test_home_page_in_english_is_left_to_right(client: Client, trader) -> None:
    client.force_login(trader)
    response = client.get("/")
    assert '<html lang="en" dir="ltr">' in response.text
    assert "Welcome, trader" in response.text


def test_switching_language_persists_on_user_and_cookie(client: Client, trader) -> None:
    client.force_login(trader)
    response = client.post("/i18n/setlang/", {"language": "ar", "next": "/"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ar"
    trader.refresh_from_db()
    assert trader.language == "ar"
    assert '<html lang="ar" dir="rtl">' in client.get("/").text


def test_switching_back_to_english_persists(client: Client, trader) -> None:
    trader.language = "ar"
    trader.save(update_fields=["language"])
    client.force_login(trader)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    trader.refresh_from_db()
    assert trader.language == "en"


def test_saved_language_applies_in_a_new_browser(client: Client, trader) -> None:
    client.force_login(trader)
    client.post("/i18n/setlang/", {"language": "ar", "next": "/"})
    other_browser = Client()
    other_browser.force_login(trader)
    assert '<html lang="ar" dir="rtl">' in other_browser.get("/").text


def test_switching_language_anonymously_sets_cookie_only(client: Client) -> None:
    response = client.post("/i18n/setlang/", {"language": "ar", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/login/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ar"


def test_switching_to_unknown_language_is_refused(client: Client, trader) -> None:
    client.force_login(trader)
    response = client.post("/i18n/setlang/", {"language": "xx", "next": "/"})
    assert response.status_code == 400
    assert "That language is not available." in response.text
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    trader.refresh_from_db()
    assert trader.language == ""


def test_switching_language_without_a_language_is_refused(client: Client) -> None:
    assert client.post("/i18n/setlang/", {}).status_code == 400


def test_switching_language_never_redirects_off_site(client: Client) -> None:
    response = client.post("/i18n/setlang/", {"language": "ar", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_forbidden_page_in_arabic(client: Client, trader) -> None:
    client.force_login(trader)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ar"
    response = client.get("/compliance/audit/")
    assert response.status_code == 403
    assert '<html lang="ar" dir="rtl">' in response.text
    assert "الوصول مرفوض" in response.text


def test_not_found_page_in_arabic(client: Client) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ar"
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "الصفحة غير موجودة" in response.text


def test_server_error_page_renders_alone_in_arabic() -> None:
    request = RequestFactory().get("/")
    with translation.override("ar"):
        response = server_error(request)
    assert response.status_code == 500
    text = response.content.decode()
    assert '<html lang="ar" dir="rtl">' in text
    assert "خطأ في الخادم" in text


def test_server_error_page_renders_alone_in_english() -> None:
    with translation.override("en"):
        response = server_error(RequestFactory().get("/"))
    text = response.content.decode()
    assert '<html lang="en" dir="ltr">' in text
    assert "Server error" in text
