"""Portal forms of the monitoring app."""

from __future__ import annotations

import json

from django import forms

from monitoring.choices import Severity


class RuleVersionForm(forms.Form):
    """Propose new parameters (JSON) for a rule; becomes a draft awaiting approval."""

    params = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 70}),
        help_text="JSON object; omitted parameters keep their defaults",
    )
    severity = forms.ChoiceField(choices=Severity.choices)
    note = forms.CharField(required=False, max_length=500)

    def clean_params(self):
        try:
            value = json.loads(self.cleaned_data["params"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Parameters must be a JSON object.")
        return value


class BacktestForm(forms.Form):
    since = forms.DateTimeField(required=False)
    until = forms.DateTimeField(required=False)


class DeadLetterReplayForm(forms.Form):
    payload = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}), max_length=16384
    )
