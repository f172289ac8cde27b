"""Configuration: production settings are safe, bad values fail loudly at start-up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "VIGIL_ENV": "production",
    "SECRET_KEY": "k" * 20 + "Qz8#xLm2!pW9@vR4$tY7^uI1&oP3*aS6(dF5)gH0",
    "ALLOWED_HOSTS": "vigil.example.com",
    "DATABASE_URL": "postgres://vigil@db.internal:5432/vigil",
    "REDIS_URL": "redis://redis.internal:6379/0",
}


def _manage(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "VIGIL_ENV", "SECRET_KEY",
                        "ALLOWED_HOSTS", "CELERY_TASK_ALWAYS_EAGER", "DEBUG",
                        "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_under_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env_extra=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_development_settings():
    # The same check must be able to fail: development settings are not deployable.
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     env_extra={"VIGIL_ENV": "development"})
    assert result.returncode != 0


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"VIGIL_ENV": "production", "ALLOWED_HOSTS": "x.example.com"}, "SECRET_KEY"),
        ({**PROD_ENV, "ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({**PROD_ENV, "SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"VIGIL_ENV": "staging"}, "VIGIL_ENV"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"LOGIN_MAX_FAILURES": "lots"}, "LOGIN_MAX_FAILURES"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"CELERY_WORKER_MAX_MEMORY_PER_CHILD": "-1"}, "CELERY_WORKER_MAX_MEMORY_PER_CHILD"),
    ],
)
def test_bad_configuration_fails_naming_the_variable(env, variable):
    result = _manage("check", env_extra=env)
    assert result.returncode != 0
    assert variable in result.stderr
