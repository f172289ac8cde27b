"""Read-only admin views of lists; the one action (activate a held version) uses a service."""

from __future__ import annotations

from django.contrib import admin, messages

from audit.context import Actor
from screening.lists.models import ListSource, ListVersion
from screening.lists.services import ListImportError, list_version_activate


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ListSource)
class ListSourceAdmin(ReadOnlyAdmin):
    list_display = [
        "code",
        "name",
        "is_enabled",
        "last_checked_at",
        "last_success_at",
        "last_error",
    ]


@admin.register(ListVersion)
class ListVersionAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "source",
        "status",
        "is_active",
        "publication_date",
        "fetched_at",
        "entity_count",
        "added_count",
        "removed_count",
        "changed_count",
        "status_reason",
    ]
    list_filter = ["source", "status", "is_active"]
    actions = ["activate"]

    def has_activate_permission(self, request) -> bool:
        from config.accounts.roles import ADMIN_ROLES, can_write

        return can_write(request.user, ADMIN_ROLES)

    @admin.action(
        description="Activate the selected version (after review)", permissions=["activate"]
    )
    def activate(self, request, queryset) -> None:
        for version in queryset:
            try:
                list_version_activate(
                    version_id=version.pk,
                    actor=Actor.user(request.user),
                    reason="activated from admin after review",
                )
            except ListImportError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"Version #{version.pk} is now active.")
