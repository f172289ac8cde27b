"""Forms of the case pages: they parse input; the services decide."""

from __future__ import annotations

from django import forms
from django.contrib.auth.models import User

from cases.choices import Disposition, MatchResolution, SarActivityCategory
from cases.selectors import assignable_users

TRANSITIONS = ("claim", "start", "escalate", "resolve", "approve", "reject", "reopen", "assign")


class TransitionForm(forms.Form):
    """One form for every transition; the service names what is missing for a verb."""

    expected_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    disposition = forms.ChoiceField(
        choices=[("", "— choose —"), *Disposition.choices], required=False
    )
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=10_000
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10_000
    )
    suspect_identified = forms.TypedChoiceField(
        choices=[
            ("", "unchanged"),
            ("yes", "Suspect identified"),
            ("no", "No suspect identified (60-day deadline)"),
        ],
        required=False,
        coerce=lambda v: v == "yes",
        empty_value=None,
    )
    assignee = forms.ModelChoiceField(queryset=User.objects.none(), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignable_users()


class CommentForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000, label="Comment"
    )


class AttachmentForm(forms.Form):
    file = forms.FileField()


class MatchResolveForm(forms.Form):
    expected_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    resolution = forms.ChoiceField(choices=[c for c in MatchResolution.choices if c[0]])
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5_000)


class SarForm(forms.Form):
    subject_name = forms.CharField(max_length=300)
    subject_id = forms.CharField(max_length=64, required=False)
    subject_dob = forms.CharField(max_length=10, required=False, label="Subject date of birth")
    subject_country = forms.CharField(max_length=2, required=False)
    amount = forms.DecimalField(max_digits=18, decimal_places=2, min_value=0, required=False)
    currency = forms.RegexField(regex=r"^[A-Z]{3}$", initial="USD", max_length=3)
    activity_start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    activity_end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    categories = forms.MultipleChoiceField(
        choices=SarActivityCategory.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    narrative = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}), required=False, max_length=20_000
    )


class BulkForm(forms.Form):
    """Bulk action over selected cases; `confirm` is set on the confirmation page."""

    action = forms.ChoiceField(choices=[("close", "Close"), ("assign", "Assign")])
    disposition = forms.ChoiceField(
        choices=[
            ("", "— choose —"),
            (Disposition.FALSE_POSITIVE, "False positive"),
            (Disposition.NO_FURTHER_ACTION, "No further action"),
        ],
        required=False,
    )
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10_000
    )
    assignee = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    confirm = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignable_users()

    def clean(self):
        cleaned = super().clean()
        # `selected` values are "id:version" pairs of the rows the user ticked: the version
        # is what the user saw, so a case changed since is refused, not overwritten.
        raw = self.data.getlist("selected") if hasattr(self.data, "getlist") else []
        versions = {}
        for item in raw:
            try:
                pk, version = (int(part) for part in item.split(":", 1))
            except ValueError:
                raise forms.ValidationError(f"Bad selection {item!r}.") from None
            versions[pk] = version
        if not versions:
            raise forms.ValidationError("Select at least one case.")
        if len(versions) > 200:
            raise forms.ValidationError("Select at most 200 cases at a time.")
        cleaned["versions"] = versions
        return cleaned
