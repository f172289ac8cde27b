from django.contrib import admin, messages

from config.accounts.models import ApiClient
from config.accounts.services import api_client_revoke


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """Integration clients. Tokens are created with `manage.py create_api_client` (shown
    once); here they can be reviewed and revoked."""

    list_display = ("name", "key", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("name", "user", "key", "token_hash", "created_at", "last_used_at",
                       "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected clients' tokens")
    def revoke(self, request, queryset):
        for client in queryset:
            api_client_revoke(name=client.name)
        messages.success(request, f"Revoked {queryset.count()} client(s).")
