"""The TypeScript client installs and runs as its README says, from a fresh project.

A new npm project outside the checkout runs `npm install <repo>/clients/typescript` (the
README's install line until the package is published: npm runs the package's `prepare`,
which builds dist/), saves the README's leading example as hello.mjs, and runs it with node
against a live `cronstream serve`: the example creates a job due in two seconds, its worker
runs it, and it prints the execution's status, which must be SUCCESS.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import ServerProcess, serving
from tests.e2e.test_docs import make_platform_key

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "typescript"
ADMIN_KEY = "cs_admin_ts_install"
INSTALL_TIMEOUT = 90
RUN_TIMEOUT = 30


def readme_example() -> str:
    """The README's first ```js block: the example it leads with."""
    match = re.search(r"```js\n(.*?)```", (PACKAGE / "README.md").read_text(), re.DOTALL)
    assert match, "clients/typescript/README.md has no ```js example"
    return match.group(1)


def readme_install_line() -> str:
    """The folder form of the README's install line, with the path of this checkout."""
    text = (PACKAGE / "README.md").read_text()
    assert "npm install @cronstream/client" in text
    line = "npm install /path/to/cronstream/clients/typescript"
    assert line in text, "the README no longer says how to install from a checkout"
    return line.replace("/path/to/cronstream", str(ROOT))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(tmp_path_factory.mktemp("server"), ADMIN_KEY) as process:
        yield process


@pytest.mark.timeout(INSTALL_TIMEOUT + RUN_TIMEOUT + 30)
def test_readme_install_and_example(server: ServerProcess, tmp_path: Path) -> None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.fail("node and npm are needed")
    app = tmp_path / "app"  # pytest's tmp_path is outside the checkout
    app.mkdir()
    assert not app.resolve().is_relative_to(ROOT)
    env = {
        **os.environ,
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        "npm_config_update_notifier": "false",
    }
    subprocess.run(
        ["npm", "init", "-y"], cwd=app, env=env, capture_output=True, check=True, timeout=30
    )
    install = subprocess.run(
        readme_install_line().split(),
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert install.returncode == 0, (install.stdout + install.stderr)[-4000:]
    (app / "hello.mjs").write_text(readme_example())

    api_key = make_platform_key(server.address, ADMIN_KEY, "ts-install")
    run_env = {**env, "CRONSTREAM_ADDR": server.address, "CRONSTREAM_API_KEY": api_key}
    run = subprocess.run(
        ["node", "hello.mjs"],
        cwd=app,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert re.search(r"created job \S+: [A-Z]+, runs at \d{4}-\d\d-\d\dT", output), output
    assert "attempt 1: hello, Ada" in output, output
    assert re.search(r"execution \S+: SUCCESS in \d+ ms, result \{\"greeted\":\"Ada\"\}", output), (
        output
    )
