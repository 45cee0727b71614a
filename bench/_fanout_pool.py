"""The driver's side of the fan-out client processes (bench/_fanout_client.py): start, command, stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench._fanout_servers import BASE_DIR, PY, child_setup

REPLY_LIMIT = 64 * 2**20  # a report carries every socket's counts and a latency histogram


class ClientPool:
    """`processes` client processes sharing the sockets evenly; every wait is bounded."""

    def __init__(self, procs: list[asyncio.subprocess.Process]) -> None:
        self.procs = procs
        self.replies: list[asyncio.Queue[dict[str, Any]]] = [asyncio.Queue() for _ in procs]
        self.complete: dict[str, set[int]] = defaultdict(set)  # as_of -> processes whose sockets all have it
        self.changed = asyncio.Event()
        self.open = [0] * len(procs)
        self.pumps = [asyncio.create_task(self._pump(i, p)) for i, p in enumerate(procs)]

    @classmethod
    async def start(
        cls, url: str, *, symbols: list[str], token: str, processes: int, compression: str, log: Path
    ) -> ClientPool:
        command = [PY, "-m", "bench._fanout_client", url, "--symbols", ",".join(symbols)]
        env = {**os.environ, "FANOUT_TOKEN": token}
        procs = []
        with log.open("ab") as err:
            for _ in range(processes):
                procs.append(
                    await asyncio.create_subprocess_exec(
                        *command, "--compression", compression,
                        cwd=BASE_DIR, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                        stderr=err, limit=REPLY_LIMIT, preexec_fn=child_setup,
                    )
                )  # fmt: skip
        return cls(procs)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    async def _pump(self, index: int, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            message = json.loads(line)
            if message["op"] == "all":
                self.complete[message["as_of"]].add(index)
                self.changed.set()
            else:
                await self.replies[index].put(message)
        await self.replies[index].put({"op": "exited", "code": await proc.wait()})

    async def ask(self, commands: list[dict[str, Any]], *, timeout: float) -> list[dict[str, Any]]:
        """Send each process its command; wait for every answer (a dead process answers `exited`)."""
        for proc, command in zip(self.procs, commands, strict=True):
            assert proc.stdin is not None
            proc.stdin.write((json.dumps(command) + "\n").encode())
            await proc.stdin.drain()
        answers = await asyncio.wait_for(asyncio.gather(*(q.get() for q in self.replies)), timeout)
        for answer in answers:
            if answer["op"] == "exited":
                raise RuntimeError(f"a client process exited with code {answer['code']}")
        return list(answers)

    async def connect(self, total: int, *, batch: int, timeout: float) -> list[dict[str, Any]]:
        """Grow to `total` open sockets across the processes, `batch` handshakes at a time per process."""
        shares = [total // len(self.procs) + (i < total % len(self.procs)) for i in range(len(self.procs))]
        commands = [
            {"op": "connect", "count": max(0, s - o), "batch": batch} for s, o in zip(shares, self.open, strict=True)
        ]
        answers = await self.ask(commands, timeout=timeout)
        self.open = [a["open"] for a in answers]
        return answers

    async def reset(self, since: float) -> None:
        self.complete.clear()
        await self.ask([{"op": "reset", "since": since}] * len(self.procs), timeout=30)

    async def report(self) -> list[dict[str, Any]]:
        return await self.ask([{"op": "report"}] * len(self.procs), timeout=60)

    async def wait_complete(self, as_of: str, *, timeout: float) -> bool:
        """Until every process has seen quote `as_of` on all its sockets, or `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.complete.get(as_of, ())) < len(self.procs):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        return True

    async def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.write(b'{"op": "stop"}\n')
                proc.stdin.close()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for pump in self.pumps:
            pump.cancel()
        await asyncio.gather(*self.pumps, return_exceptions=True)
