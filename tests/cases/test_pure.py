"""Pure modules: deadlines, name comparison, alert trace, SAR document, charts."""

from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from cases import charts, deadlines, sar
from cases.evidence_display import alert_trace, compare_names

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_sar_due_is_30_days_with_suspect_and_60_without():
    assert deadlines.sar_due_at(detected_at=T0, suspect_identified=True) == datetime(
        2026, 1, 31, 12, tzinfo=UTC
    )
    assert deadlines.sar_due_at(detected_at=T0, suspect_identified=False) == datetime(
        2026, 3, 2, 12, tzinfo=UTC
    )


def test_continuing_review_is_90_days_after_filing():
    assert deadlines.continuing_review_due_at(filed_at=T0) == datetime(2026, 4, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(0, "0-7"), (7, "0-7"), (8, "8-30"), (30, "8-30"), (31, "31-60"), (61, "61+"), (900, "61+")],
)
def test_age_bucket(days, bucket):
    assert deadlines.age_bucket(days) == bucket


def test_age_bucket_bounds_agree_with_buckets():
    after, before = deadlines.age_bucket_bounds("8-30", now=T0)
    assert (T0 - before).days == 8 and (T0 - after).days == 31
    assert deadlines.age_bucket_bounds("61+", now=T0)[0] is None
    with pytest.raises(ValueError, match="unknown age bucket"):
        deadlines.age_bucket_bounds("7-9", now=T0)


def test_compare_names_marks_same_similar_and_different_tokens():
    result = compare_names("Ivan Petrov", "PETROFF, Ivan Sergeyevich")
    assert dict(result["left"]) == {"Ivan": "same", "Petrov": "similar"}
    assert dict(result["right"]) == {"PETROFF": "similar", "Ivan": "same", "Sergeyevich": "diff"}


def test_compare_names_transliterates():
    result = compare_names("Müller", "MULLER")
    assert result["left"] == [("Müller", "same")]


def test_alert_trace_lines_up_parameters_and_observations():
    trace = alert_trace(
        {
            "rule_code": "R1",
            "rule_version": 2,
            "parameters": {"threshold": 10000, "days": 7},
            "observed": {"threshold": 9990, "count": 5},
            "contributing_ids": list(range(205)),
        }
    )
    assert trace["rows"] == [("threshold", "10000", "9990"), ("days", "7", ""), ("count", "", "5")]
    assert len(trace["contributing_ids"]) == 200 and trace["contributing_more"] == 5


def _draft(**overrides):
    values = {
        "subject_name": "Ivan Petrov",
        "subject_id": "C1",
        "subject_dob": "1970-01-01",
        "subject_country": "RU",
        "amount": Decimal("25000"),
        "currency": "USD",
        "activity_start": date(2026, 1, 1),
        "activity_end": date(2026, 1, 20),
        "categories": ["structuring"],
        "narrative": "x" * 60,
        "exported_at": None,
        "case": SimpleNamespace(reference="C-000001"),
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def test_sar_document_validates_when_complete():
    document = sar.sar_document(_draft())
    assert sar.sar_validate(document) == []
    assert document["suspicious_activity"]["amount"] == "25000.00"
    assert document["filing_type"] == "initial"


def test_sar_validation_names_each_problem():
    document = sar.sar_document(
        _draft(amount=None, categories=[], narrative="short", activity_start=date(2026, 2, 1))
    )
    errors = sar.sar_validate(document)
    assert "suspicious_activity: amount is required" in errors
    assert "suspicious_activity.categories: choose at least one activity category" in errors
    assert "narrative: at least 50 characters describing the activity" in errors
    assert any("end date is before its start" in e for e in errors)


def test_sar_csv_neutralises_formulas():
    content = sar.sar_csv(sar.sar_document(_draft(subject_name="=HYPERLINK(1)"))).decode()
    header, row = content.strip().split("\r\n")
    assert header.startswith("case_reference,filing_type,subject_name")
    assert ",'=HYPERLINK(1)," in row


def test_charts_escape_labels_and_scale_bars():
    svg = charts.bar_chart([("<b>", 10), ("b", 5)], title="T & co")
    assert "&lt;b&gt;" in svg and "T &amp; co" in svg and "<b>" not in svg
    assert 'width="220"' in svg and 'width="110"' in svg  # peak 10 fills the 220px span
    line = charts.line_chart({"R1": [0, 2, 4]}, labels=["a", "b", "c"], title="x")
    assert "<polyline" in line and "R1 (6)" in line
    assert "No alerts" in charts.line_chart({}, labels=["a"], title="x")
