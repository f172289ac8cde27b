"""Register the hourly and daily digest tasks with django-celery-beat (DatabaseScheduler)."""

from django.db import migrations

SCHEDULE = [
    # (task name, beat entry name, minute, hour)
    ("audit.digest_hourly", "Audit: hourly digest", "0", "*"),
    ("audit.digest_daily", "Audit: daily digest", "5", "0"),
]


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for task, name, minute, hour in SCHEDULE:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*",
            timezone="UTC",
        )
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "crontab": crontab, "enabled": True},
        )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[s[1] for s in SCHEDULE]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_verificationrun_digest"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
