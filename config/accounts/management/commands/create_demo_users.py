from django.core.management.base import BaseCommand

from audit.context import Actor, audit_context
from config.accounts.services import demo_users_create


class Command(BaseCommand):
    help = "Create (or reset) one demo user per role and print their passwords."

    def handle(self, *args, **options):
        with audit_context(actor=Actor.system("create_demo_users")):
            users = demo_users_create()
        self.stdout.write("Demo users (username / role / password):")
        for username, role, password in users:
            self.stdout.write(f"  {username:<10} {role:<10} {password}")
