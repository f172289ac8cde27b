"""Portal forms of the screening pages."""

from __future__ import annotations

from django import forms

from screening.choices import ScreeningUse
from screening.lists.choices import EntityType, ListCode
from screening.lists.parsers import SOURCES

# what an analyst screens for (re-screening is the engine's own) and what a party may be
USES = [(u.value, u.label) for u in (ScreeningUse.ONBOARDING, ScreeningUse.PAYMENTS)]
ENTITY_TYPES = [("", "Any"), *((t.value, t.label) for t in EntityType
                               if t != EntityType.UNKNOWN)]


def _list_choices() -> list[tuple[str, str]]:
    labels = dict(ListCode.choices)
    return [(code, labels.get(code, code)) for code in SOURCES]


def _threshold_help() -> str:
    from screening.matcher_cache import matcher_config

    cfg = matcher_config()
    uses = ", ".join(f"{cfg.use_thresholds.get(code, cfg.threshold):g} {code}"
                     for code, _ in USES)
    lists = "".join(f"; {code} {value:g}" for code, value in cfg.list_thresholds.items())
    return f"0-100; empty: the configured default ({uses}{lists})"


class _ThresholdForm(forms.Form):
    threshold = forms.FloatField(required=False, min_value=0, max_value=100,
                                 widget=forms.NumberInput(attrs={"step": "0.5"}))
    use = forms.ChoiceField(choices=USES, initial="onboarding",
                            help_text="which configured threshold applies")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["threshold"].help_text = _threshold_help()
        self.fields["threshold"].widget.attrs["placeholder"] = "default"


class SearchForm(_ThresholdForm):
    field_order = ["name", "customer_id", "dob", "country", "entity_type", "lists", "use",
                   "threshold"]

    customer_id = forms.CharField(
        label="Customer id", required=False, max_length=100,
        help_text="a stored customer: hits open or update their cases; empty fields take "
                  "the customer's stored name, date of birth and country")
    name = forms.CharField(max_length=300, strip=False, required=False,
                           widget=forms.TextInput(attrs={"autofocus": True,
                                                         "autocomplete": "off"}),
                           help_text='any script; "LAST, First" is understood')
    dob = forms.CharField(label="Date of birth", required=False, max_length=10,
                          help_text="YYYY, YYYY-MM or YYYY-MM-DD",
                          widget=forms.TextInput(attrs={"placeholder": "YYYY-MM-DD"}))
    country = forms.CharField(required=False, max_length=2,
                              help_text="ISO 3166 alpha-2, e.g. DE",
                              widget=forms.TextInput(attrs={"size": 4}))
    entity_type = forms.ChoiceField(required=False, choices=ENTITY_TYPES)
    lists = forms.MultipleChoiceField(required=False, choices=_list_choices,
                                      widget=forms.CheckboxSelectMultiple,
                                      help_text="none ticked: every active list")

    def clean(self):
        data = super().clean()
        customer_id = (data.get("customer_id") or "").strip()
        data["customer"] = None
        if customer_id:
            from cases.selectors import customer_by_external_id

            customer = customer_by_external_id(customer_id)
            if customer is None:
                self.add_error("customer_id", f"No stored customer has the id {customer_id!r}.")
                return data
            data["customer"] = customer
            data["name"] = data.get("name") or customer.name
            data["dob"] = data.get("dob") or customer.dob or ""
            data["country"] = data.get("country") or customer.country or ""
        if not (data.get("name") or "").strip() and "name" not in self.errors:
            self.add_error("name", "Enter a name, or the id of a stored customer.")
        return data


class BatchUploadForm(_ThresholdForm):
    field_order = ["file", "use", "threshold", "lists", "keep_customers"]

    file = forms.FileField(label="Customer file (CSV)",
                           help_text="with a header row holding at least a name column")
    lists = forms.MultipleChoiceField(required=False, choices=_list_choices,
                                      widget=forms.CheckboxSelectMultiple,
                                      help_text="none ticked: every active list")
    keep_customers = forms.BooleanField(
        required=False, label="Keep these customers for ongoing screening",
        help_text="every row with an id is stored in the customer base and screened again "
                  "when a list changes; unticked, only the rows with hits are stored")


class HitWhitelistForm(forms.Form):
    list_code = forms.CharField(max_length=16)
    entity_uid = forms.CharField(max_length=64)
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="why this customer is not the listed party")
