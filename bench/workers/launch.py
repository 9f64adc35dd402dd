"""Starts benchmark worker processes (Python or Go) and stops them."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
GO_WORKER = ROOT / ".tools" / "bin" / "cronstream-bench-worker"
PY_WORKER = Path(__file__).with_name("py_worker.py")


def build_go_worker() -> None:
    subprocess.run(
        ["go", "build", "-o", str(GO_WORKER), "./examples/benchworker"],
        cwd=ROOT / "clients" / "go",
        check=True,
    )


def command(kind: str, target: str, key: str, handler: str, slots: int) -> list[str]:
    args = [target, key, handler, str(slots)]
    if kind == "go":
        return [str(GO_WORKER), *args]
    return [sys.executable, str(PY_WORKER), *args]


@contextlib.contextmanager
def workers(
    kind: str,
    count: int,
    target: str | Sequence[str],
    key: str,
    handler: str,
    slots: int,
    record_dir: Path | None = None,
    sleep_ms: tuple[int, int] | None = None,
) -> Iterator[list[Path]]:
    """`count` worker processes; yields the files their runs are recorded in
    (written when they stop). Given several targets, process i connects to
    target i mod their number: an even spread over the servers. `sleep_ms`
    (low, high): each handler sleeps a random time in that range, in
    milliseconds; without it, none (W1, W2)."""
    targets = [target] if isinstance(target, str) else list(target)
    if kind == "go":
        build_go_worker()  # every time: quick when nothing changed, never stale
    records = [record_dir / f"worker-{i}.txt" for i in range(count)] if record_dir else []
    processes = []
    try:
        for i in range(count):
            extra = [str(records[i])] if records else []
            if sleep_ms is not None:
                extra = [extra[0] if extra else "", f"{sleep_ms[0]}-{sleep_ms[1]}"]
            args = command(kind, targets[i % len(targets)], key, handler, slots) + extra
            processes.append(subprocess.Popen(args, stdout=subprocess.DEVNULL))
        yield records
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
