"""The market-data API (curves: list, detail, upload; FX list) and the admin upload pages."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.compliance.models import AuditEntry
from apps.trading.marketdata import curve_import_csv
from apps.trading.models import CurvePoint, CurveSnapshot, FxRate, Market
from tests.trading.factories import MarketFactory

LIST_URL = "/api/v1/curves/"
UPLOAD_URL = "/api/v1/curves/upload/"
GOOD_CSV = b"period,price\n2026-09,35.25\n2026-Q4,36.5\n"


@pytest.fixture
def ttf(db) -> Market:
    return MarketFactory(code="ttf", currency="EUR")


@pytest.fixture
def uploader(risk_manager):
    """A risk manager holding the upload permission (the role map does not grant it yet)."""
    risk_manager.user_permissions.add(Permission.objects.get(codename="add_curvesnapshot"))
    return risk_manager


def _csv_file(content: bytes = GOOD_CSV) -> SimpleUploadedFile:
    return SimpleUploadedFile("curve.csv", content, content_type="text/csv")


def _snapshot(market: Market, day: date, text: str = "period,price\n2027-01,40\n"):
    return curve_import_csv(user=None, market=market, pricing_date=day, text=text).snapshot


# --- Upload -------------------------------------------------------------------------------------


def test_curve_upload_multipart_creates_the_snapshot(ttf, uploader, verified_client):
    response = verified_client(uploader).post(
        UPLOAD_URL,
        {"market": "ttf", "pricing_date": "2026-08-18", "file": _csv_file(), "source": "ICE"},
    )

    assert response.status_code == 201, response.content
    snapshot = CurveSnapshot.objects.get()
    assert response.headers["Location"] == f"/api/v1/curves/{snapshot.pk}/"
    body = response.json()
    assert {key: body[key] for key in body if key != "created_at"} == {
        "id": snapshot.pk,
        "market": "ttf",
        "pricing_date": "2026-08-18",
        "revision": 1,
        "currency": "EUR",
        "price_unit": "EUR/MWh",
        "point_count": 2,
        "source": "ICE",
        "notes": "",
        "created_by": "risk",
    }
    assert AuditEntry.objects.filter(action="marketdata.curve_imported").count() == 1


def test_curve_upload_text_csv_body_with_fields_in_the_query(ttf, uploader, verified_client):
    client = verified_client(uploader)
    url = f"{UPLOAD_URL}?market=ttf&pricing_date=2026-08-18"

    first = client.post(url, GOOD_CSV, content_type="text/csv")
    second = client.post(url, b"period,price\n2026-09,34\n", content_type="text/csv")

    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.json()["revision"], second.json()["revision"]) == (1, 2)
    assert second.json()["point_count"] == 1


def test_curve_upload_bad_lines_are_400_by_line_and_write_nothing(ttf, uploader, verified_client):
    content = b"period,price\n2026-09,35\n2026-13,36\n2026-10,zero\n"
    response = verified_client(uploader).post(
        UPLOAD_URL, {"market": "ttf", "pricing_date": "2026-08-18", "file": _csv_file(content)}
    )

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {"line": 3, "message": "'2026-13' is not a month (2027-01) or quarter (2027-Q1) code."},
            {"line": 4, "message": "'zero' is not a number."},
        ]
    }
    assert CurveSnapshot.objects.count() == CurvePoint.objects.count() == 0
    assert not AuditEntry.objects.filter(action__startswith="marketdata.").exists()


@pytest.mark.parametrize(
    ("data", "with_file", "field"),
    [
        ({"pricing_date": "2026-08-18"}, True, "market"),
        ({"market": "no-such-market", "pricing_date": "2026-08-18"}, True, "market"),
        ({"market": "ttf", "pricing_date": "18/08/2026"}, True, "pricing_date"),
        ({"market": "ttf", "pricing_date": "2026-08-18"}, False, "file"),
    ],
)
def test_curve_upload_bad_fields_are_field_errors(
    ttf, uploader, verified_client, data, with_file, field
):
    if with_file:
        data = {**data, "file": _csv_file()}
    response = verified_client(uploader).post(UPLOAD_URL, data)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert CurveSnapshot.objects.count() == 0


@pytest.mark.parametrize(
    "role", ["trader", "compliance_officer", "field_operator", "administrator"]
)
def test_curve_upload_without_the_permission_is_403(ttf, request, verified_client, role):
    user = request.getfixturevalue(role)
    response = verified_client(user).post(
        UPLOAD_URL, {"market": "ttf", "pricing_date": "2026-08-18", "file": _csv_file()}
    )
    assert response.status_code == 403
    assert CurveSnapshot.objects.count() == 0


def test_curve_upload_is_granted_to_the_risk_manager_role(ttf, risk_manager, verified_client):
    from apps.accounts.services import role_groups_ensure

    role_groups_ensure()  # the groups as the migrations leave them (tests may flush them)
    response = verified_client(risk_manager).post(
        UPLOAD_URL, {"market": "ttf", "pricing_date": "2026-08-18", "file": _csv_file()}
    )
    assert response.status_code == 201
    assert CurveSnapshot.objects.count() == 1


def test_curve_upload_anonymous_is_refused(ttf, client):
    response = client.post(UPLOAD_URL, {"market": "ttf", "pricing_date": "2026-08-18"})
    assert response.status_code == 401


# --- Reads --------------------------------------------------------------------------------------


def test_curve_list_filters_by_market_and_date_newest_first(ttf, trader, verified_client):
    hub = MarketFactory(code="henry-hub", currency="USD")
    older = _snapshot(ttf, date(2026, 8, 14))
    newer = _snapshot(ttf, date(2026, 8, 17))
    correction = _snapshot(ttf, date(2026, 8, 17))
    _snapshot(hub, date(2026, 8, 17))
    client = verified_client(trader)

    response = client.get(f"{LIST_URL}?market=ttf")
    assert [row["id"] for row in response.json()["results"]] == [correction.pk, newer.pk, older.pk]
    response = client.get(f"{LIST_URL}?market=ttf&pricing_date=2026-08-17")
    assert [(r["pricing_date"], r["revision"]) for r in response.json()["results"]] == [
        ("2026-08-17", 2),
        ("2026-08-17", 1),
    ]
    assert client.get(f"{LIST_URL}?pricing_date=2026-99-01").status_code == 400


def test_curve_list_cursor_pagination_walks_every_snapshot_once(ttf, trader, verified_client):
    days = [date(2026, 8, day) for day in (10, 11, 12, 13, 14)]
    expected = [_snapshot(ttf, day).pk for day in reversed(days)]
    client = verified_client(trader)

    seen, url = [], f"{LIST_URL}?page_size=2"
    while url:
        page = client.get(url).json()
        assert len(page["results"]) <= 2
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == expected


def test_curve_list_query_count_does_not_grow_with_snapshots(
    ttf, trader, verified_client, django_assert_max_num_queries
):
    client = verified_client(trader)
    _snapshot(ttf, date(2026, 8, 10))
    with django_assert_max_num_queries(50) as one:
        assert len(client.get(LIST_URL).json()["results"]) == 1
    for day in (11, 12, 13, 14):
        _snapshot(MarketFactory(), date(2026, 8, day))
    with django_assert_max_num_queries(50) as many:
        assert len(client.get(LIST_URL).json()["results"]) == 5
    assert len(many.captured_queries) == len(one.captured_queries)


def test_curve_detail_has_its_points_in_delivery_order(ttf, compliance_officer, verified_client):
    snapshot = _snapshot(ttf, date(2026, 8, 18), "period,price\n2027-Q1,42\n2026-09,35.5\n")
    response = verified_client(compliance_officer).get(f"{LIST_URL}{snapshot.pk}/")
    assert response.status_code == 200
    assert response.json()["points"] == [
        {
            "period": "2026-09",
            "kind": "month",
            "start": "2026-09-01",
            "end": "2026-10-01",
            "price": "35.500000",
        },
        {
            "period": "2027-Q1",
            "kind": "quarter",
            "start": "2027-01-01",
            "end": "2027-04-01",
            "price": "42.000000",
        },
    ]
    assert verified_client(compliance_officer).get(f"{LIST_URL}999999/").status_code == 404


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("trader", 200),
        ("risk_manager", 200),
        ("compliance_officer", 200),
        ("field_operator", 403),
        ("administrator", 403),
    ],
)
@pytest.mark.parametrize("url", [LIST_URL, "detail", "/api/v1/fx-rates/"])
def test_market_data_read_api_permission_matrix(ttf, request, verified_client, role, status, url):
    if url == "detail":
        url = f"{LIST_URL}{_snapshot(ttf, date(2026, 8, 18)).pk}/"
    user = request.getfixturevalue(role)
    assert verified_client(user).get(url).status_code == status


def test_fx_rate_list_filters_by_pair(db, trader, verified_client):
    FxRate.objects.bulk_create(
        [
            FxRate(base="EUR", quote="USD", date=date(2026, 8, 17), rate=Decimal("1.1")),
            FxRate(base="EUR", quote="USD", date=date(2026, 8, 18), rate=Decimal("1.1025")),
            FxRate(base="USD", quote="AED", date=date(2026, 8, 18), rate=Decimal("3.6725")),
        ]
    )
    response = verified_client(trader).get("/api/v1/fx-rates/?base=eur&quote=usd")
    assert response.json()["results"] == [
        {"base": "EUR", "quote": "USD", "date": "2026-08-18", "rate": "1.10250000", "source": ""},
        {"base": "EUR", "quote": "USD", "date": "2026-08-17", "rate": "1.10000000", "source": ""},
    ]


# --- Admin --------------------------------------------------------------------------------------


def test_admin_curve_upload_imports_and_redirects_to_the_snapshot(
    ttf, administrator, verified_client
):
    response = verified_client(administrator).post(
        "/admin/trading/curvesnapshot/add/",
        {"market": ttf.pk, "pricing_date": "2026-08-18", "file": _csv_file()},
    )
    snapshot = CurveSnapshot.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/trading/curvesnapshot/{snapshot.pk}/change/"
    assert snapshot.point_count == 2


def test_admin_curve_upload_shows_line_errors_on_the_form(ttf, administrator, verified_client):
    response = verified_client(administrator).post(
        "/admin/trading/curvesnapshot/add/",
        {
            "market": ttf.pk,
            "pricing_date": "2026-08-18",
            "file": _csv_file(b"period,price\n2026-09,35\n2026-09,36\n"),
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "file": ["Line 3: 2026-09 is given twice (first on line 2)."]
    }
    assert "Nothing was imported." in response.text
    assert CurveSnapshot.objects.count() == 0


def test_admin_curve_snapshot_is_read_only(ttf, administrator, verified_client):
    snapshot = _snapshot(ttf, date(2026, 8, 18))
    client = verified_client(administrator)
    page = client.get(f"/admin/trading/curvesnapshot/{snapshot.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    assert client.get(f"/admin/trading/curvesnapshot/{snapshot.pk}/delete/").status_code == 403
    assert client.get("/admin/trading/curvesnapshot/").status_code == 200


def test_admin_fx_upload_imports_rates(db, administrator, verified_client):
    content = b"date,base,quote,rate\n2026-08-18,EUR,USD,1.1025\n"
    response = verified_client(administrator).post(
        "/admin/trading/fxrate/add/", {"file": _csv_file(content)}
    )
    assert response.status_code == 302
    assert list(FxRate.objects.values_list("base", "quote", "rate")) == [
        ("EUR", "USD", Decimal("1.10250000"))
    ]


# --- Idempotency --------------------------------------------------------------------------------


@pytest.mark.parametrize("as_body", [False, True])
def test_curve_upload_replayed_with_one_idempotency_key_imports_once(
    ttf, uploader, verified_client, as_body
):
    client = verified_client(uploader)

    def upload(content: bytes):
        headers = {"Idempotency-Key": "curve-ttf-2026-08-18"}
        if as_body:
            url = f"{UPLOAD_URL}?market=ttf&pricing_date=2026-08-18"
            return client.post(url, content, content_type="text/csv", headers=headers)
        data = {"market": "ttf", "pricing_date": "2026-08-18", "file": _csv_file(content)}
        return client.post(UPLOAD_URL, data, headers=headers)

    first, again = upload(GOOD_CSV), upload(GOOD_CSV)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert CurveSnapshot.objects.count() == 1

    other = upload(b"period,price\n2026-09,30\n")
    assert other.status_code == 422
    assert CurveSnapshot.objects.count() == 1
