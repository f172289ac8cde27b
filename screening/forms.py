"""Portal forms of the screening pages."""

from __future__ import annotations

from django import forms

from screening.lists.parsers import SOURCES


class SearchForm(forms.Form):
    name = forms.CharField(max_length=300, strip=False)
    dob = forms.CharField(required=False, max_length=10, help_text="YYYY, YYYY-MM or YYYY-MM-DD")
    country = forms.CharField(required=False, max_length=2, help_text="ISO alpha-2")
    entity_type = forms.ChoiceField(required=False, choices=[
        ("", "any"), ("person", "person"), ("organisation", "organisation"),
        ("vessel", "vessel"), ("aircraft", "aircraft")])
    lists = forms.MultipleChoiceField(required=False, choices=[(c, c) for c in SOURCES],
                                      widget=forms.CheckboxSelectMultiple)
    threshold = forms.FloatField(required=False, min_value=0, max_value=100)
    use = forms.ChoiceField(choices=[("onboarding", "onboarding"), ("payments", "payments")],
                            initial="onboarding")


class BatchUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV with a `name` column (UTF-8 or cp1252)")
    threshold = forms.FloatField(required=False, min_value=0, max_value=100)
    use = forms.ChoiceField(choices=[("onboarding", "onboarding"), ("payments", "payments")],
                            initial="onboarding")


class HitWhitelistForm(forms.Form):
    list_code = forms.CharField(max_length=16)
    entity_uid = forms.CharField(max_length=64)
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="why this customer is not the listed party")
