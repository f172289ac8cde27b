"""One name per object on the ledger.

Entries name what they are about by ``object_type`` and ``object_id``. History entries
use the model's label (``enrichment.enrichmentrun``); some service events were recorded
under other names for the same objects before they were made to use the label too. The
ledger is immutable, so those older names stay on their entries: every read of one
object's entries (its history page, its evidence bundle, the ledger filter) asks for the
label and the names it went by before.
"""

from __future__ import annotations

#: model label -> the names its objects' service events were recorded under before.
FORMER_NAMES: dict[str, tuple[str, ...]] = {
    "enrichment.enrichmentrun": ("enrichment.run",),
    "screening.batchrun": ("screening.BatchRun",),
    "screening.screeningquery": ("screening.ScreeningQuery",),
    "lists.listversion": ("screening.ListVersion",),
}
_LABEL_OF = {old: label for label, olds in FORMER_NAMES.items() for old in olds}


def canonical_object_type(name: str) -> str:
    """The model label an object type stands for (itself if it is one, or not a model)."""
    return _LABEL_OF.get(name, name)


def object_type_names(name: str) -> list[str]:
    """Every name the object type was recorded under: its label first."""
    label = canonical_object_type(name)
    return [label, *FORMER_NAMES.get(label, ())]


def object_kind(name: str) -> str:
    """What an object type is called on a page ("Enrichment run"); empty if not a model."""
    from django.apps import apps

    try:
        return apps.get_model(canonical_object_type(name))._meta.verbose_name.capitalize()
    except (LookupError, ValueError):
        return ""
