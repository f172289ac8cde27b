"""Signals of the lists app.

`list_version_activated` is sent after the transaction that activated a version commits,
with `version_id` (and `source`, `previous_version_id`); the screening engine listens to
re-screen customers against what changed (`selectors.version_delta`).
"""

from django.dispatch import Signal

list_version_activated = Signal()
