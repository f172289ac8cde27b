"""Portal form for a loan application; validation is the API's input serializer, so the
portal and the API accept and refuse exactly the same things."""

from __future__ import annotations

from typing import Any

from django import forms

from enrichment.choices import PrincipalRole

MAX_PRINCIPALS = 4


class ApplicationForm(forms.Form):
    legal_name = forms.CharField(max_length=300)
    registration_number = forms.CharField(max_length=64, required=False)
    lei = forms.CharField(max_length=20, required=False, label="LEI (if known)")
    country = forms.CharField(max_length=2, help_text="ISO 3166 alpha-2, e.g. DE")
    address_line = forms.CharField(max_length=300, required=False, label="Address")
    city = forms.CharField(max_length=120, required=False)
    region = forms.CharField(max_length=64, required=False)
    postal_code = forms.CharField(max_length=20, required=False)
    tax_id = forms.CharField(max_length=32, required=False, label="Tax id")
    requested_amount = forms.DecimalField(max_digits=14, decimal_places=2)
    currency = forms.CharField(max_length=3, initial="USD")
    purpose = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class PrincipalForm(forms.Form):
    full_name = forms.CharField(max_length=200, required=False)
    date_of_birth = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    nationality = forms.CharField(max_length=2, required=False)
    role = forms.ChoiceField(choices=PrincipalRole.choices, initial=PrincipalRole.OWNER)
    ownership_percent = forms.DecimalField(max_digits=5, decimal_places=2, required=False)


PrincipalFormSet = forms.formset_factory(PrincipalForm, extra=2, max_num=MAX_PRINCIPALS,
                                         validate_max=True)


def payload_from_post(data) -> dict[str, Any]:
    """The API-shaped payload of a submitted portal form (raw strings; the serializer
    parses and validates them)."""
    payload: dict[str, Any] = {
        name: data.get(name, "").strip() for name in ApplicationForm.base_fields
    }
    payload["country"] = payload["country"].upper()
    payload["currency"] = (payload["currency"] or "USD").upper()
    principals = []
    total = min(int(data.get("form-TOTAL_FORMS", "0") or 0), MAX_PRINCIPALS)
    for index in range(total):
        item = {name: data.get(f"form-{index}-{name}", "").strip()
                for name in PrincipalForm.base_fields}
        if not item["full_name"] and not item["date_of_birth"]:
            continue  # an empty extra row
        item["nationality"] = item["nationality"].upper()
        if not item["ownership_percent"]:
            item["ownership_percent"] = None
        principals.append(item)
    payload["principals"] = principals
    return payload


class UnknownOutcomeReleaseForm(forms.Form):
    """Release a billable request of unknown outcome after checking with the provider."""

    RETRY = "retry"
    RESOLVE = "resolve"

    reason = forms.CharField(
        max_length=1000, min_length=10, strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "e.g. Experian support: no "
                                                               "inquiry recorded on 2026-11-28"}),
        label="What the provider said",
        error_messages={"required": "Say what the provider confirmed (at least 10 characters).",
                        "min_length": "Say what the provider confirmed (at least 10 "
                                      "characters)."})
    action = forms.ChoiceField(choices=[(RETRY, "Release and retry now"),
                                        (RESOLVE, "Release only (mark resolved)")])
