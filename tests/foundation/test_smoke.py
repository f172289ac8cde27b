import pytest

from cases.services import case_open, customer_upsert
from tests.conftest import sealed_ledger

pytestmark = pytest.mark.django_db


def test_case_open_dedupes_and_audits(analyst):
    customer = customer_upsert(external_id="C1", name="Jane Roe")
    first = case_open(source="screening", title="Hit", subject_type="customer",
                      subject_id="C1", dedupe_key="screening:C1:ofac-sdn:306",
                      customer=customer, evidence={"kind": "screening_match",
                                                   "object_id": "1", "summary": {}})
    again = case_open(source="screening", title="Hit", subject_type="customer",
                      subject_id="C1", dedupe_key="screening:C1:ofac-sdn:306",
                      customer=customer, priority=90,
                      evidence={"kind": "screening_match", "object_id": "2", "summary": {}})
    assert again.pk == first.pk
    assert again.priority == 90
    assert first.evidence.count() == 2
    assert sealed_ledger().filter(object_type="cases.case",
                                  object_id=str(first.pk)).count() == 2
