"""The benchmark's data, made with the project's own services in this process.

`prepare()` points Django at a scratch SQLite file (or DATABASE_URL when set), migrates it and
makes a premium user with an API token and the paper broker connected (which takes the
first balance snapshot). Call it before anything imports Django models.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

# The bare view's path (served by bench._urls); kept here, where nothing imports Django.
BARE_PATH = "/bench/bare"


@dataclass(frozen=True)
class Fixture:
    user_id: int
    email: str
    token: str
    connection_id: int


def environment(*, data_dir: str, redis_url: str, settings: str = "bench._settings") -> dict[str, str]:
    """The environment every process of the benchmark runs with (this one and the servers)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "DATA_DIR": data_dir,
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir}/bench.sqlite3",
        "REDIS_URL": redis_url,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
    }


def prepare(env: dict[str, str]) -> Fixture:
    os.environ.update(env)
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"  # this process only: nothing left queued in Redis
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import Tier, User
    from accounts.services import api_token_create
    from brokers.adapters.registry import BROKERS
    from brokers.services.connections import connection_configure

    call_command("migrate", interactive=False, verbosity=0)
    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    user = User.objects.create_user(email=email, password=None, tier=Tier.PREMIUM)
    token = api_token_create(user=user, name="bench").key
    connection = connection_configure(user=user, spec=BROKERS["paper"], credentials={}, paper=True)
    return Fixture(user_id=user.pk, email=email, token=token, connection_id=connection.pk)


def snapshot_count(fixture: Fixture) -> int:
    from django.db import connection

    from brokers.models import BalanceSnapshot

    count = BalanceSnapshot.objects.filter(connection_id=fixture.connection_id).count()
    connection.close()  # hold no SQLite handle while the servers run
    return count


def cleanup(fixture: Fixture) -> None:
    """Remove the benchmark user (matters on a shared DATABASE_URL; a scratch file is deleted anyway)."""
    from accounts.models import User
    from brokers.models import BrokerConnection
    from brokers.services.connections import connection_delete

    for connection in BrokerConnection.objects.filter(user_id=fixture.user_id):
        connection_delete(connection=connection)
    User.objects.filter(pk=fixture.user_id).delete()
