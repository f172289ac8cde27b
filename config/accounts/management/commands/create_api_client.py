from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor, audit_context
from config.accounts.services import api_client_create, api_client_revoke


class Command(BaseCommand):
    help = "Create an integration API client and print its bearer token (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--revoke", action="store_true", help="Revoke the client instead.")

    def handle(self, *args, name: str, revoke: bool, **options):
        name = name.strip()
        if not name or len(name) > 100 or not name.isprintable():
            raise CommandError("NAME must be 1-100 printable characters")
        with audit_context(actor=Actor.system("create_api_client")):
            if revoke:
                try:
                    api_client_revoke(name=name)
                except Exception as exc:
                    raise CommandError(f"No API client named {name!r}") from exc
                self.stdout.write(f"Revoked API client {name!r}")
                return
            try:
                _, token = api_client_create(name=name)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(f"API client {name!r} created. Its token (shown only once):")
        self.stdout.write(token)
