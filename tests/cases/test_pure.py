"""Pure modules: deadlines, name comparison, alert trace, SAR document, charts."""

from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from cases import charts, deadlines, sar
from cases.evidence_display import alert_trace
from screening.presentation import compare_names

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
    assert {w: st for w, st, _ in result["left"]} == {"Ivan": "same", "Petrov": "similar"}
    assert {w: st for w, st, _ in result["right"]} == {
        "PETROFF": "similar", "Ivan": "same", "Sergeyevich": "diff"}


def test_compare_names_transliterates():
    result = compare_names("Müller", "MULLER")
    assert result["left"] == [("Müller", "same", "")]


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


def test_stacked_columns_stack_each_day_and_title_every_segment():
    import re

    svg = charts.stacked_columns({"R1": [0, 2, 4], "<R2>": [1, 0, 1]},
                                 labels=["1 Nov", "2 Nov", "3 Nov"], title="x")
    assert "R1 (6)" in svg and "&lt;R2&gt; (2)" in svg and "<R2>" not in svg
    segments = re.findall(r'<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" '
                          r'height="([\d.]+)"[^>]*><title>([^<]+)</title>', svg)
    # one segment per non-zero (series, day), none for zeros
    assert [t for *_, t in segments] == [
        "R1, 2 Nov: 2 alerts", "R1, 3 Nov: 4 alerts", "&lt;R2&gt;, 1 Nov: 1 alert",
        "&lt;R2&gt;, 3 Nov: 1 alert"]
    # 3 Nov: R2's segment sits on R1's; the column (5) reaches the top tick (5): the
    # plot's 190 px height is 5 alerts
    (y1, h1), (y2, h2) = [(float(y), float(h)) for y, h, t in segments if "3 Nov" in t]
    assert abs(y2 + h2 - y1) < 0.2
    assert abs(h1 - 4 * 190 / 5) < 0.2 and abs(h2 - 190 / 5) < 0.2
    assert abs(y2 - 30) < 0.2  # the plot's top
    assert [int(t) for t in re.findall(r'text-anchor="end" fill="#5b6675">(\d+)<', svg)] \
        == [0, 1, 2, 3, 4, 5]
    assert "No alerts" in charts.stacked_columns({}, labels=["a"], title="x")
    assert "No alerts" in charts.stacked_columns({"R1": [0]}, labels=["a"], title="x")


def test_chart_ticks_are_whole_round_numbers_covering_the_peak():
    assert charts._ticks(1) == [0, 1]
    assert charts._ticks(5) == [0, 1, 2, 3, 4, 5]
    assert charts._ticks(7) == [0, 2, 4, 6, 8]
    assert charts._ticks(23) == [0, 5, 10, 15, 20, 25]
    assert charts._ticks(1234) == [0, 500, 1000, 1500]
