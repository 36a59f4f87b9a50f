"""Helpers for tests/test_deploy.py: interpreters, a moto server process, the image's tree.

The deploy scripts run as subprocesses, as a user or the Docker image would run them, so
the moto server they talk to runs in its own process too (its state and its config, such
as Lambda's Docker-less mode, stay out of the test process).
"""

from __future__ import annotations

import base64
import contextlib
import glob
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent  # where pytest's venv keeps aws, hadolint, ...
REGION = "eu-west-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def lambda_like_python() -> tuple[str, str]:
    """(interpreter, "X.Y"): Python 3.12 as the Lambda runtime has it, else this one.

    pyenv keeps 3.12 on the project's machines; elsewhere the test falls back to the
    interpreter running pytest and builds the wheels for that version instead.
    """
    candidates = sorted(glob.glob("/root/.pyenv/versions/3.12.*/bin/python3.12"))
    which = shutil.which("python3.12")
    if which:
        candidates.append(which)
    for candidate in candidates:
        probe = subprocess.run(
            [candidate, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "3.12":
            return candidate, "3.12"
    return sys.executable, f"{sys.version_info[0]}.{sys.version_info[1]}"


def lambda_arch() -> str:
    """The package.sh --arch whose wheels run on this machine."""
    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


def code_sha256(path: Path) -> str:
    """CodeSha256 as Lambda reports it."""
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment without any AWS setting, with the venv's tools first on PATH.

    AWS config and credential files point at nothing, so nothing of the host's AWS set-up
    (profiles, regions, keys) can leak into what a test asserts.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHON": sys.executable,
        }
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """`python -m moto.server` on a free loopback port; yields its endpoint URL."""
    for _attempt in range(3):
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                # Never a real Docker engine, even on a machine that has one: moto would
                # pull a Lambda image from the internet to run an invoked function.
                env={**os.environ, "DOCKER_HOST": f"unix://{log.parent}/no-docker.sock"},
            )
        try:
            if _wait_until_up(endpoint, proc):
                yield endpoint
                return
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    raise RuntimeError(f"moto server did not start; see {log}")


def _wait_until_up(endpoint: str, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False  # e.g. the port was taken in between: try another
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2):
                return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    return False


def moto_api(endpoint: str, path: str, body: Mapping[str, object]) -> None:
    """POST to moto's own control API (config, queued Lambda results)."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201), response.status


def image_files() -> list[str]:
    """The top-level names .dockerignore lets into the image (its `!` lines)."""
    names = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if line.startswith("!"):
            names.append(line[1:].strip("/"))
    return names


def copy_image_tree(dest: Path) -> Path:
    """A copy of what `docker build` would send, with fresh file times (what COPY gives)."""
    dest.mkdir(parents=True)
    for name in image_files():
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source,
                dest / name,
                copy_function=shutil.copyfile,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"),
            )
        elif source.is_file():
            shutil.copyfile(source, dest / name)
    for script in ("package.sh", "post-to-lambda.sh"):
        (dest / script).chmod(0o755)
    return dest


def entrypoint() -> list[str]:
    """The Dockerfile's ENTRYPOINT (exec form), as a command list."""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("ENTRYPOINT"):
            command = json.loads(line.removeprefix("ENTRYPOINT").strip())
            assert isinstance(command, list)
            return [str(part) for part in command]
    raise AssertionError("Dockerfile has no ENTRYPOINT")
