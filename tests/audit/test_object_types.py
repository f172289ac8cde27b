"""One object, one name on the ledger: entries recorded under an object's former name
(before service events used the model's label) are read with its history, its evidence
bundle and the ledger filter; new events use the label."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from audit.context import Actor, audit_context
from audit.evidence import evidence_bundle_export, resolve_object_type
from audit.object_types import FORMER_NAMES, canonical_object_type, object_type_names
from audit.selectors import object_history
from audit.services import audit_record, ledger_seal_pending
from audit.verify_bundle import verify_bundle
from tests.conftest import sealed_ledger

pytestmark = pytest.mark.django_db


def test_every_label_with_former_names_is_a_model():
    from django.apps import apps

    for label, olds in FORMER_NAMES.items():
        assert apps.get_model(label)._meta.label_lower == label
        assert all(canonical_object_type(old) == label for old in olds)
        assert object_type_names(olds[0])[0] == label
    assert object_type_names("cases.case") == ["cases.case"]


def test_a_query_and_a_run_are_one_object_with_their_former_names(audit_env, auditor,
                                                                  portal_as, tmp_path):
    """Entries under "screening.ScreeningQuery" and "enrichment.run" (as recorded before)
    and under the labels (as recorded now) make one history, one bundle, one filter."""
    with audit_context(actor=Actor.system("test")):
        audit_record(action="screening.query", object_type="screening.ScreeningQuery",
                     object_id="77", data={"era": "before"})
        audit_record(action="screening.query_reproduced",
                     object_type="screening.screeningquery", object_id="77",
                     data={"era": "now"})
        audit_record(action="enrichment.provider_call", object_type="enrichment.run",
                     object_id="5", data={"era": "before"})
    ledger_seal_pending()
    steps = object_history(object_type="screening.screeningquery", object_id="77")
    assert [s.data["era"] for s in steps] == ["before", "now"]
    assert resolve_object_type("query") == "screening.screeningquery"
    data, name = evidence_bundle_export(object_type=resolve_object_type("query"),
                                        object_id="77")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        manifest = json.loads(z.read("manifest.json"))
    assert manifest["subject"]["object_type"] == "screening.screeningquery"
    (tmp_path / name).write_bytes(data)
    assert verify_bundle(tmp_path / name).passed
    assert sealed_ledger().filter(action="evidence.export",
                                  object_type="screening.screeningquery").exists()

    c = portal_as(auditor)
    page = c.get("/audit/objects/enrichment.run/5/")  # a former name shows the label's page
    assert page.status_code == 200
    assert "Enrichment run 5" in page.content.decode()
    listed = c.get("/audit/?object_type=screening.screeningquery&object_id=77")
    assert listed.content.decode().count("screening.query") >= 2



def test_a_json_field_change_reads_as_json_on_the_history_page(customers, auditor, portal_as):
    import html

    customer = customers[0]
    customer.data = {"kyc": {"risk": "high", "note": "Müller"}}
    customer.save(update_fields=["data"])
    ledger_seal_pending()
    page = html.unescape(portal_as(auditor).get(
        f"/audit/objects/cases.customer/{customer.pk}/").content.decode())
    assert '{"kyc": {"note": "Müller", "risk": "high"}}' in page
    assert "{'kyc'" not in page
    audit_record(action="cases.customer_note", object_type="cases.customer",
                 object_id=str(customer.pk), data={"note": "Müller"})
    ledger_seal_pending()
    page = html.unescape(portal_as(auditor).get(
        f"/audit/objects/cases.customer/{customer.pk}/").content.decode())
    assert '"note": "Müller"' in page  # an event's data as JSON too
