"""Jobs created in each client language are worked by workers in every language.

Each client carries the same small program (clients/python/examples/crosslang.py,
clients/go/examples/crosslang, clients/typescript/test/crosslang.ts,
clients/java/examples/CrossLang.java), written with that client's convenience
layer and typed handlers: it creates one one-time job for each language's
handler `crosslang.<language>` with the payload `{"origin": <its language>,
"target": <that language>}`, then works its own handler until it has run one
execution from each language, and stops gracefully. The four run at once
against one server and one platform, so the 16 jobs cross every pair (4x4),
and the server must then hold, for each, one SUCCESS execution whose result is
`{"origin": <creator>, "worker": <worker>}`: payloads written by one
language's JSON encoder and read into another's types, and back.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cronstream.v1 import execution_pb2, job_pb2, scheduler_service_pb2, scheduler_service_pb2_grpc
from google.protobuf import json_format

from tests.e2e.processes import ServerProcess, serving
from tests.e2e.test_docs import make_platform_key

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "clients"
ADMIN_KEY = "cs_admin_cross_language"
LANGUAGES = ("python", "go", "typescript", "java")
BUILD_TIMEOUT = 240.0
RUN_TIMEOUT = 150.0  # each program gives up at 120 s by itself


def build(argv: list[str], cwd: Path) -> str:
    if shutil.which(argv[0]) is None:
        pytest.fail(f"{argv[0]} is not installed")
    result = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
    )
    assert result.returncode == 0, f"{argv} failed:\n{(result.stdout + result.stderr)[-6000:]}"
    return result.stdout


def programs(scratch: Path) -> dict[str, tuple[list[str], Path]]:
    """Builds each language's program; its command line (before ADDRESS KEY) and folder."""
    go_binary = scratch / "crosslang-go"
    build(["go", "build", "-o", str(go_binary), "./examples/crosslang"], CLIENTS / "go")
    build(["npm", "run", "--silent", "build:test"], CLIENTS / "typescript")
    classpath = scratch / "java.classpath"
    build(
        [
            "mvn",
            "-B",
            "-ntp",
            "-q",
            "compile",
            "dependency:build-classpath",
            f"-Dmdep.outputFile={classpath}",
        ],
        CLIENTS / "java",
    )
    java_classpath = f"{CLIENTS / 'java' / 'target' / 'classes'}:{classpath.read_text().strip()}"
    return {
        "python": ([sys.executable, "examples/crosslang.py"], CLIENTS / "python"),
        "go": ([str(go_binary)], CLIENTS / "go"),
        "typescript": (["node", "dist/test/crosslang.js"], CLIENTS / "typescript"),
        "java": (["java", "-cp", java_classpath, "examples/CrossLang.java"], CLIENTS / "java"),
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(tmp_path_factory.mktemp("cross-language"), ADMIN_KEY) as process:
        yield process


def jobs_and_executions(
    address: str, api_key: str
) -> dict[str, tuple[job_pb2.Job, list[execution_pb2.Execution]]]:
    """Every crosslang job of the platform by name, with its executions."""
    found = {}
    auth = (("authorization", f"Bearer {api_key}"),)
    with grpc.insecure_channel(address) as channel:
        scheduler = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        jobs = scheduler.ListJobs(
            scheduler_service_pb2.ListJobsRequest(page_size=100), metadata=auth
        )
        for job in jobs.jobs:
            executions = scheduler.ListExecutions(
                scheduler_service_pb2.ListExecutionsRequest(job_id=job.id), metadata=auth
            )
            found[job.name] = (job, list(executions.executions))
    return found


@pytest.mark.timeout(BUILD_TIMEOUT * 3 + RUN_TIMEOUT + 30)
def test_every_language_works_every_languages_jobs(server: ServerProcess, tmp_path: Path) -> None:
    commands = programs(tmp_path)
    api_key = make_platform_key(server.address, ADMIN_KEY, "cross-language")

    running = {
        language: subprocess.Popen(
            [*argv, server.address, api_key],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for language, (argv, cwd) in commands.items()
    }
    outputs = {}
    for language, process in running.items():
        try:
            outputs[language], _ = process.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            outputs[language] = process.communicate()[0]
            pytest.fail(f"{language} did not finish:\n{outputs[language][-4000:]}")
    for language, process in running.items():
        output = outputs[language]
        assert process.returncode == 0, f"{language} exited {process.returncode}:\n{output[-4000:]}"
        assert output.count(" ACTIVE ") == len(LANGUAGES), f"{language}:\n{output[-4000:]}"
        origins = sorted(
            line.split()[-1] for line in output.splitlines() if line.startswith("worked")
        )
        assert origins == sorted(LANGUAGES), f"{language}:\n{output[-4000:]}"

    found = jobs_and_executions(server.address, api_key)
    for origin in LANGUAGES:
        for worker in LANGUAGES:
            name = f"crosslang {origin} to {worker}"
            assert name in found, sorted(found)
            job, executions = found[name]
            assert job.handler_name == f"crosslang.{worker}"
            assert [e.status for e in executions] == [execution_pb2.EXECUTION_STATUS_SUCCESS], (
                name,
                executions,
            )
            result = json_format.MessageToDict(executions[0].result)
            assert result == {"origin": origin, "worker": worker}, (name, json.dumps(result))
            assert executions[0].worker_id == f"crosslang-{worker}"
