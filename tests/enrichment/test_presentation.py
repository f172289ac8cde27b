"""The enrichment document as the application page shows it: sections of labelled rows
with their sources (`enrichment.presentation`, no database), and the page itself."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re

import pytest
from django.template.loader import render_to_string
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrichment.choices import RunStatus
from enrichment.document import SCHEMA_VERSION, validate_document
from enrichment.models import EnrichmentDocument, EnrichmentRun
from enrichment.pipeline import EnrichmentPipeline, MemoryStepStore
from enrichment.presentation import Cell, Row, Section, document_sections, field_label
from enrichment.services import application_create, enrichment_run_request
from enrichment.stubs import demo_company, direct_parent_of

from .conftest import application_data
from .test_pipeline_document import applicant_for, document_for

HOSTILE = '<script>alert("x")</script>'
HOSTILE_ATTRIBUTE = '" onmouseover="alert(1)'
SCREENING = {"status": "screened", "subjects": [
    {"role": "applicant", "name": "Acme Ceramics Inc.", "hits": 0, "top_score": None,
     "case_id": None},
    {"role": "principal", "name": "Maria Keller", "hits": 2, "top_score": 0.93,
     "case_id": "CASE-000042"},
]}


def real_document(clients, index: int) -> dict:
    """A document built as a run builds it: the pipeline against the stub providers, plus
    a screening result of the shape `enrichment.services._screen` gives."""
    gleif, bureau = clients
    steps = EnrichmentPipeline(registry=gleif, bureau=bureau,
                               store=MemoryStepStore()).run(applicant_for(index))
    document = document_for(steps, index)
    document["screening"] = copy.deepcopy(SCREENING)
    validate_document(document)
    return document


def by_title(sections: list[Section]) -> dict[str, Section]:
    return {s.title: s for s in sections}


def row(section: Section, label: str) -> Row:
    matches = [r for r in section.rows if r.label == label]
    assert len(matches) == 1, [r.label for r in section.rows]
    return matches[0]


def all_cells(sections: list[Section]) -> list[Cell]:
    cells = []
    for section in sections:
        for r in section.rows:
            cells += [r.cell] if r.cell else []
            cells += [cell for _label, cell in r.record]
            cells += [cell for cells_ in (r.grid.rows if r.grid else ()) for cell in cells_]
    return cells


# --- the pure function on real documents ----------------------------------------------


def test_one_section_per_part_of_the_document(clients):
    sections = document_sections(real_document(clients, 80))
    assert [s.title for s in sections] == [
        "Document", "Business (registry)", "Parent companies (registry)", "Credit (bureau)",
        "Screening"]
    header = sections[0]
    assert [r.label for r in header.rows] == ["Schema", "Schema version", "Application ID",
                                              "Run"]
    assert dict(row(header, "Run").record)["Idempotency key"] == Cell("text", text="k-1")


def test_every_sourced_value_shows_its_provider_call_and_fetch_time(clients):
    document = real_document(clients, 80)
    sections = by_title(document_sections(document))
    lei = row(sections["Business (registry)"], "LEI")
    assert lei.cell == Cell("text", text=demo_company(80).lei)
    stored = document["business"]["lei"]["source"]
    assert lei.source.provider == "gleif"
    assert lei.source.call_id == stored["call_id"]
    assert lei.source.call_id_short == stored["call_id"][:8] + "…"
    assert lei.source.fetched_at == stored["fetched_at"]
    score = row(sections["Credit (bureau)"], "Commercial score")
    assert score.source.provider == "experian"
    assert score.source.call_id == document["credit"]["commercial_score"]["source"]["call_id"]
    # A record carrying its own source (a parent) keeps it on its row.
    direct = row(sections["Parent companies (registry)"], "Direct")
    assert direct.source.call_id == document["parents"]["direct"]["source"]["call_id"]
    assert dict(direct.record)["LEI"] == Cell("text", text=direct_parent_of(
        demo_company(80)).lei)
    assert "Source" not in dict(direct.record)


def test_values_are_shown_exactly_as_stored(clients):
    document = real_document(clients, 80)
    credit = document["credit"]
    credit["recommended_credit_limit"]["value"] = 20000.0
    business = by_title(document_sections(document))["Business (registry)"]
    assert row(business, "Creation date").cell.text == document["business"]["creation_date"][
        "value"]
    credit_rows = by_title(document_sections(document))["Credit (bureau)"]
    assert row(credit_rows, "Recommended credit limit").cell.text == "20000.0"
    assert row(credit_rows, "OFAC match").cell.text == json.dumps(credit["ofac_match"]["value"])
    assert row(credit_rows, "BIN").cell.text == credit["bin"]["value"]


def test_nested_objects_and_lists_become_sub_tables(clients):
    document = real_document(clients, 80)
    sections = by_title(document_sections(document))
    address = dict(row(sections["Business (registry)"], "Legal address").record)
    stored = document["business"]["legal_address"]["value"]
    assert address["Address lines"] == Cell("lines", lines=tuple(stored["address_lines"]))
    assert address["City"] == Cell("text", text=stored["city"])
    risk = dict(row(sections["Credit (bureau)"], "Risk class").record)
    assert set(risk) == {"Code", "Definition"}
    subjects = row(sections["Screening"], "Subjects").grid
    assert subjects.columns == ("Role", "Name", "Hits", "Top score", "Case ID")
    assert subjects.rows[1] == (
        Cell("text", text="principal"), Cell("text", text="Maria Keller"),
        Cell("text", text="2"), Cell("text", text="0.93"), Cell("text", text="CASE-000042"))
    assert subjects.rows[0][4] == Cell("missing")


def test_null_and_absent_values_are_shown_not_hidden(clients):
    document = real_document(clients, 24)  # index % 25 == 24: no LEI, no parents
    assert "lei" not in document["business"]
    sections = by_title(document_sections(document))
    business = sections["Business (registry)"]
    # Every field the schema declares is listed, in the schema's order.
    assert [r.label for r in business.rows][:3] == ["Match", "LEI", "Legal name"]
    assert row(business, "LEI").cell == Cell("missing", note="not in document")
    assert row(business, "Creation date").cell == Cell("missing", note="not in document")
    assert row(sections["Parent companies (registry)"], "Direct").cell == Cell("missing")
    document["screening"]["subjects"] = []
    del document["parents"]
    sections = by_title(document_sections(document))
    assert row(sections["Screening"], "Subjects").cell == Cell("missing", note="empty list")
    # A whole part the schema requires, absent: its section says so.
    assert [r.cell for r in sections["Parent companies (registry)"].rows] == [
        Cell("missing", note="not in document")]


@pytest.mark.parametrize(("key", "label"), [
    ("legal_name", "Legal name"), ("lei", "LEI"), ("current_dbt", "Current DBT"),
    ("ofac_match", "OFAC match"), ("fsr_score", "FSR score"), ("case_id", "Case ID"),
    ("$schema", "Schema"), ("ofacMatchWarning", "OFAC match warning"), ("", "(blank)"),
])
def test_field_names_become_human_labels(key, label):
    assert field_label(key) == label


# --- hostile and unexpected input -----------------------------------------------------


def hostile_document(document: dict) -> dict:
    """The document with third-party values (and an unknown key) an attacker controls."""
    document = copy.deepcopy(document)
    document["business"]["legal_name"]["value"] = HOSTILE
    document["business"]["lei"]["source"]["call_id"] = HOSTILE_ATTRIBUTE
    document["business"]["legal_address"]["value"]["address_lines"] = [HOSTILE]
    document["screening"]["subjects"][0]["name"] = HOSTILE
    document["credit"][HOSTILE] = {"nested": [HOSTILE]}
    return document


def assert_escaped(html: str) -> None:
    assert HOSTILE not in html and "<script>alert" not in html
    assert HOSTILE_ATTRIBUTE not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert 'title="&quot; onmouseover=&quot;alert(1)"' in html


def test_hostile_values_are_escaped_when_rendered(clients):
    sections = document_sections(hostile_document(real_document(clients, 80)))
    assert_escaped(render_to_string("enrichment/partials/document_sections.html",
                                    {"sections": sections}))


UNEXPECTED = [
    None, "a string", 42, [1, 2], [],
    {},
    {"business": []},
    {"business": "flat"},
    {"business": {"lei": [1, {"a": [2, {"b": None}]}]}},
    {"business": {"lei": {"value": {"deep": {"deeper": {"deepest": 1}}}, "source": "nope"}}},
    {"business": {"lei": {"value": 1, "source": {"provider": ["x"], "call_id": None}}}},
    {"screening": {"subjects": [1, "two", {"three": 3}]}},
    {"screening": {"subjects": [{"role": {"nested": [1]}}, {"other": True}]}},
    {"parents": {"direct": {"source": {}, "lei": None}}},
    {"trade_lines": [{"creditor": "A", "balance": 10.5}, {"creditor": "B"}]},
    {"run": ["not", "an", "object"], "$schema": {"x": 1}},
    {"credit": {"score": float("nan")}},
    {"$schema": "https://vigil.example/schemas/enrichment/application-v1.json",
     "business": None, "credit": {"bin": {"value": 10 ** 5000, "source": {}}}},
]


@pytest.mark.parametrize("document", UNEXPECTED, ids=range(len(UNEXPECTED)))
def test_unexpected_shapes_never_raise(document):
    sections = document_sections(document)
    assert sections and all(isinstance(c.text, str) for c in all_cells(sections))
    render_to_string("enrichment/partials/document_sections.html", {"sections": sections})


def test_deep_and_circular_values_fall_back_to_text():
    deep: list = []
    node = deep
    for _ in range(5000):
        node.append([])
        node = node[0]
    circular: dict = {}
    circular["self"] = circular
    sections = document_sections({"business": {"lei": {"value": [deep], "source": {}},
                                                "loop": [circular]}})
    business = sections[1]
    assert row(business, "LEI").cell.kind == "json"
    assert row(business, "Loop").grid.rows[0][0].kind == "json"


def test_a_shape_without_layout_is_shown_as_compact_json():
    sections = document_sections({"credit": {"risk_class": {
        "value": {"code": [1, {"x": "ü"}]},
        "source": {"provider": "experian", "call_id": "c-1", "fetched_at": "t"}}}})
    risk = row(sections[1], "Risk class")
    assert dict(risk.record)["Code"] == Cell("json", text='[1, {"x": "ü"}]')
    assert risk.source.call_id_short == "c-1"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=40,
)
parts = st.sampled_from(["business", "credit", "parents", "screening", "run", "source",
                         "value", "lei", "subjects", "match"]) | st.text(max_size=8)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.dictionaries(parts, st.dictionaries(parts, json_values, max_size=5)
                       | json_values, max_size=6) | json_values)
def test_any_json_document_is_laid_out_without_error(document):
    sections = document_sections(document)
    assert sections[0].title == "Document"
    assert all(isinstance(c.text, str) and all(isinstance(x, str) for x in c.lines)
               for c in all_cells(sections))


# --- the page ------------------------------------------------------------------------


def store_document(application, document: dict, key: str) -> EnrichmentDocument:
    """A stored document of a finished run (as `_finish_success` leaves it)."""
    run = EnrichmentRun.objects.create(application=application, idempotency_key=key,
                                       status=RunStatus.SUCCEEDED)
    body = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return EnrichmentDocument.objects.create(
        run=run, application=application, schema_version=SCHEMA_VERSION, document=document,
        sha256=hashlib.sha256(body.encode()).hexdigest())


def make_application(index=80):
    return application_create(data=application_data(index), principals=[
        {"full_name": "Maria Keller", "date_of_birth": dt.date(1975, 4, 2)}])


RAW = re.compile(r"<details>\s*<summary>Raw document \(JSON, schema 1\.0\.0, run #(\d+)\)"
                 r"</summary>\s*<pre class=\"json\">(.*?)</pre>\s*</details>", re.S)


@pytest.mark.django_db
def test_application_page_shows_the_document_in_sections_and_the_raw_json_collapsed(
        portal_as, analyst, enrichment_settings_for_stub, django_capture_on_commit_callbacks,
        django_assert_max_num_queries):
    application = make_application(80)
    for _ in range(2):  # two runs: the page also shows the diff
        with django_capture_on_commit_callbacks(execute=True):
            enrichment_run_request(application=application)
    latest = EnrichmentDocument.objects.order_by("-created_at", "-id").first()
    page = portal_as(analyst)
    with django_assert_max_num_queries(10):
        response = page.get(f"/enrichment/applications/{application.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    for title in ("Business (registry)", "Parent companies (registry)", "Credit (bureau)",
                  "Screening"):
        assert re.search(rf'<h3 id="document-section-\d+">{re.escape(title)}</h3>', html)
    lei = latest.document["business"]["lei"]
    assert re.search(r'<th scope="row">LEI</th>\s*<td>' + lei["value"] + "</td>", html)
    assert f'<span title="{lei["source"]["call_id"]}">{lei["source"]["call_id"][:8]}…' in html
    assert "Maria Keller" in html and "<th scope=\"col\">Top score</th>" in html
    raw = RAW.search(html)
    assert raw and int(raw.group(1)) == latest.run_id
    assert lei["source"]["call_id"] in raw.group(2)
    assert html.count("<pre") == 1  # the only JSON dump is the collapsed one
    run_page = page.get(f"/enrichment/runs/{latest.run_id}/").content.decode()
    assert '<h3 id="document-section-' in run_page and "Credit (bureau)" in run_page
    assert re.search(r"<details><summary>Raw document \(JSON\)</summary><pre", run_page)


@pytest.mark.django_db
def test_application_page_escapes_hostile_document_values(portal_as, analyst, clients,
                                                          django_assert_max_num_queries):
    application = make_application(80)
    store_document(application, real_document(clients, 80), "first")
    store_document(application, hostile_document(real_document(clients, 80)), "hostile")
    page = portal_as(analyst)
    with django_assert_max_num_queries(10):
        response = page.get(f"/enrichment/applications/{application.pk}/")
    assert response.status_code == 200
    assert_escaped(response.content.decode())


@pytest.mark.django_db
def test_application_page_reads_only_the_two_newest_documents(portal_as, analyst, clients):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    application = make_application(80)
    for i in range(4):
        store_document(application, real_document(clients, 80), f"run-{i}")
    with CaptureQueriesContext(connection) as ctx:
        html = portal_as(analyst).get(f"/enrichment/applications/{application.pk}/").content
    reads = [q["sql"] for q in ctx.captured_queries
             if 'FROM "enrichment_enrichmentdocument"' in q["sql"]]
    assert len(reads) == 1 and "LIMIT 2" in reads[0], reads
    assert b"Changes since the previous run" in html
