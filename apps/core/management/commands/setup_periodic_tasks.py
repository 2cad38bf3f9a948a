from django.core.management.base import BaseCommand

from apps.core.services import periodic_tasks_install


class Command(BaseCommand):
    help = "Install (or update) the periodic jobs declared in apps/core/periodic.py into beat."

    def handle(self, *args, **options):
        installed, disabled = periodic_tasks_install()
        self.stdout.write(f"periodic tasks: {installed} installed, {disabled} disabled")
