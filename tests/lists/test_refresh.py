"""Downloads and refresh against a local publisher stub with injected faults."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cases.models import Case
from screening.lists.download import DownloadError, DownloadPolicy, download
from screening.lists.models import ListSource, ListVersion
from screening.lists.services import ListImportError, list_refresh, list_source_update

from .stub_server import ListPublisherStub

FAST = DownloadPolicy(connect_timeout=2, read_timeout=0.5, attempts=3, backoff=0.01)
UN_PATH = "/resources/xml/en/consolidated.xml"


@pytest.fixture
def un_bytes(sanctions) -> bytes:
    return (sanctions / "un/UN_consolidated_2026-02-27.xml").read_bytes()


@pytest.fixture
def stub(un_bytes):
    with ListPublisherStub() as server:
        server.serve(UN_PATH, un_bytes)
        yield server


def test_download_conditional_get_answers_304_the_second_time(stub, tmp_path, un_bytes):
    first = download(stub.url(UN_PATH), tmp_path / "un.xml", policy=FAST)
    assert first.path.read_bytes() == un_bytes and first.etag and first.last_modified
    second = download(
        stub.url(UN_PATH),
        tmp_path / "un2.xml",
        etag=first.etag,
        last_modified=first.last_modified,
        policy=FAST,
    )
    assert second.not_modified and not (tmp_path / "un2.xml").exists()
    assert stub.requests[-1]["headers"]["If-None-Match"] == first.etag


def test_download_retries_500_and_timeouts_with_backoff(stub, tmp_path, un_bytes):
    stub.fault(UN_PATH, "500", "timeout")
    pauses: list[float] = []
    result = download(stub.url(UN_PATH), tmp_path / "un.xml", policy=FAST, sleep=pauses.append)
    assert result.attempts == 3 and result.path.read_bytes() == un_bytes
    assert len(pauses) == 2 and pauses[1] > pauses[0] * 1.0  # backoff grows


def test_truncated_body_is_resumed_with_a_range_request(stub, tmp_path, un_bytes):
    stub.fault(UN_PATH, "truncate")
    result = download(stub.url(UN_PATH), tmp_path / "un.xml", policy=FAST, sleep=lambda s: None)
    assert result.resumed and result.attempts == 2
    assert result.path.read_bytes() == un_bytes
    # Resumed from what had arrived (whole chunks of the first half), not from zero.
    start = int(stub.requests[-1]["headers"]["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= len(un_bytes) // 2
    assert stub.requests[-1]["headers"]["If-Range"]


def test_truncated_body_without_range_support_restarts(stub, tmp_path, un_bytes):
    stub.accept_ranges = False
    stub.fault(UN_PATH, "truncate")
    result = download(stub.url(UN_PATH), tmp_path / "un.xml", policy=FAST, sleep=lambda s: None)
    assert not result.resumed and result.path.read_bytes() == un_bytes
    assert "Range" not in stub.requests[-1]["headers"]


def test_wrong_content_type_is_refused_without_retry(stub, tmp_path):
    stub.fault(UN_PATH, "html")
    with pytest.raises(DownloadError, match="unexpected content type 'text/html'"):
        download(stub.url(UN_PATH), tmp_path / "un.xml", policy=FAST, sleep=lambda s: None)
    assert len(stub.requests) == 1


def test_persistent_failure_gives_up_after_the_configured_attempts(stub, tmp_path):
    stub.fault(UN_PATH, "500", "500", "500")
    with pytest.raises(DownloadError, match="after 3 attempts"):
        download(stub.url(UN_PATH), tmp_path / "un.xml", policy=FAST, sleep=lambda s: None)


@pytest.mark.django_db
def test_refresh_imports_then_stores_validators_then_gets_304(stub, settings, tmp_path):
    settings.LISTS_DOWNLOAD_DIR = tmp_path
    list_source_update(code="un", url=stub.url(UN_PATH))
    first = list_refresh(source="un", policy=FAST)
    assert first.imported.created and first.imported.activated
    source = ListSource.objects.get(code="un")
    assert source.etag and source.last_success_at and not source.last_error
    second = list_refresh(source="un", policy=FAST)
    assert second.not_modified and ListVersion.objects.count() == 1
    assert list(tmp_path.iterdir()) == []  # downloaded files are not kept


@pytest.mark.django_db
def test_refresh_of_a_truncated_file_is_refused_and_recorded(stub, settings, tmp_path, un_bytes):
    settings.LISTS_DOWNLOAD_DIR = tmp_path
    stub.serve(UN_PATH, un_bytes[: len(un_bytes) // 2])  # the publisher itself serves half
    list_source_update(code="un", url=stub.url(UN_PATH))
    with pytest.raises(ListImportError, match="truncated"):
        list_refresh(source="un", policy=FAST)
    source = ListSource.objects.get(code="un")
    assert "truncated" in source.last_error and not source.etag
    assert ListVersion.objects.count() == 0 and Case.objects.filter(source="lists").exists()


@pytest.mark.django_db
def test_refresh_lists_command_reports_failures_with_non_zero_exit(stub, settings, tmp_path):
    settings.LISTS_DOWNLOAD_DIR = tmp_path
    settings.LISTS_DOWNLOAD_ATTEMPTS = 1
    list_source_update(code="un", url=stub.url(UN_PATH))
    stub.fault(UN_PATH, "500")
    with pytest.raises(CommandError, match="refresh failed for: un"):
        call_command("refresh_lists", "--source", "un")
    assert "HTTP 500" in ListSource.objects.get(code="un").last_error
    call_command("refresh_lists", "--source", "un")
    assert ListVersion.objects.get().is_active


@pytest.mark.django_db
def test_import_list_command(sanctions, tmp_path, capsys):
    call_command("import_list", "ofac-sdn", str(sanctions / "ofac/sdn-csv-small"))
    assert "active" in capsys.readouterr().out
    call_command("import_list", "ofac-sdn", str(sanctions / "ofac/sdn-csv-small"))
    assert "already imported" in capsys.readouterr().out
    bad = tmp_path / "sdn.csv"
    bad.write_bytes(b'1,"ONLY TWO"\r\n')
    with pytest.raises(CommandError, match=r"import refused: .*/sdn.csv, line 1: expected 12"):
        call_command("import_list", "ofac-sdn", str(bad))


def test_beat_schedule_refreshes_hourly():
    from config.celery import app
    from screening.lists.tasks import lists_refresh_all

    entry = app.conf.beat_schedule["lists-refresh-hourly"]
    assert entry["task"] == lists_refresh_all.name
    assert entry["schedule"].minute == {7} and len(entry["schedule"].hour) == 24


@pytest.mark.django_db
def test_hourly_task_queues_one_refresh_per_enabled_list(monkeypatch):
    from screening.lists.tasks import lists_refresh_all

    queued: list[str] = []
    monkeypatch.setattr("screening.lists.tasks.lists_refresh_source.delay", queued.append)
    list_source_update(code="uk", is_enabled=False)
    assert lists_refresh_all() == queued == ["ofac-sdn", "ofac-cons", "un", "eu"]


@pytest.mark.django_db
def test_refresh_task_without_url_records_the_error(settings):
    from screening.lists.tasks import lists_refresh_source

    settings.LISTS_SOURCE_URLS = {"eu": ""}
    result = lists_refresh_source.apply(args=["eu"]).get()
    assert "no download URL configured" in result["error"]
    assert "no download URL" in ListSource.objects.get(code="eu").last_error


@pytest.mark.django_db
def test_import_list_published_dates_a_file_that_carries_none(sanctions, capsys):
    """OFAC's legacy CSV has no publication date; `--published` gives it, is recorded on
    the ledger as given, and never overrides a date inside the file (the UN XML's)."""
    import json

    from tests.conftest import sealed_ledger

    with pytest.raises(CommandError, match="--published: '3 May 2024' is not a YYYY-MM-DD"):
        call_command("import_list", "ofac-sdn", str(sanctions / "ofac/sdn-csv-small"),
                     "--published", "3 May 2024")
    assert not ListVersion.objects.exists()
    call_command("import_list", "ofac-sdn", str(sanctions / "ofac/sdn-csv-small"),
                 "--published", "2024-05-03")
    assert "published 2024-05-03" in capsys.readouterr().out
    sdn = ListVersion.objects.get(source__code="ofac-sdn")
    assert str(sdn.publication_date) == "2024-05-03"
    entry = sealed_ledger().get(action="lists.version_imported", object_id=str(sdn.pk))
    assert json.loads(bytes(entry.body))["publication_date_from"] == "given"
    call_command("import_list", "un", str(sanctions / "un/UN_consolidated_2026-02-27.xml"),
                 "--published", "2020-01-01")
    un = ListVersion.objects.get(source__code="un")
    assert str(un.publication_date) == "2026-02-27"
