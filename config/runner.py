"""`make run`: migrate, ensure the demo user, then web + worker + beat + gateway until Ctrl-C.

Uses SQLite and an embedded Redis unless DATABASE_URL / REDIS_URL are set.
"""

from __future__ import annotations

import os
import subprocess
import sys

from honcho.manager import Manager

from config.embedded import BASE_DIR, redis_url


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], check=True, cwd=BASE_DIR, env=env)  # noqa: S603


def processes(host: str, port: str) -> dict[str, str]:
    py = sys.executable
    schedule = os.path.join(os.environ.get("DATA_DIR", str(BASE_DIR / "var")), "celerybeat-schedule")
    return {
        # Daphne drops a socket not accepted within 5 s by default; a reconnect storm needs longer.
        "web": f"{py} -m daphne -b {host} -p {port} --websocket_connect_timeout 30 config.asgi:application",
        "worker": f"{py} -m celery -A config worker -l INFO --concurrency 2 -n worker@%h",
        "beat": f"{py} -m celery -A config beat -l INFO -s {schedule}",
        # Holds the sockets to users' IB Gateway/TWS and OpenD (brokers/gateway/host.py).
        "gateway": f"{py} manage.py gateway",
    }


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    with redis_url(persist=True) as url:
        env = {**os.environ, "REDIS_URL": url, "PYTHONUNBUFFERED": "1"}
        _manage("migrate", "--noinput", "-v", "0", env=env)
        _manage("ensure_demo", env=env)
        manager = Manager()
        for name, cmd in processes(host, port).items():
            manager.add_process(name, cmd, env=env, cwd=str(BASE_DIR))
        print(f"Tradewire on http://{host}:{port}/ (Ctrl-C stops everything)", flush=True)  # noqa: T201
        manager.loop()
        return int(manager.returncode or 0)


if __name__ == "__main__":
    sys.exit(main())
