"""The Docker image for real: built from the Dockerfile with buildah, its entry point run
against a moto server on loopback.

No image registry is reachable here, so the Dockerfile's python base is replaced (`--from`)
by a Debian bookworm minbase made with debootstrap (python3, pip, zip, ca-certificates;
PIP_BREAK_SYSTEM_PACKAGES=1 because Debian's pip refuses system installs otherwise). The
base, and buildah's storage, are kept under ~/.cache/powercycle-image (POWERCYCLE_IMAGE_CACHE)
between runs. The build fetches awscli and the package's wheels from the package index
through the host's network, with the host's CA certificates mounted read-only.

Slow, and it needs root, buildah and debootstrap: it runs only with POWERCYCLE_IMAGE_TEST=1,
which `.ci/run` sets after installing them. Measured on a shared 2-core machine: cold (no
cache: debootstrap about 65 s, the base image, the build, the run) 5 min 47 s; warm (base
cached) 2 min 35 s, most of it the build's two pip steps (awscli, package.sh) and vfs
copying whole layers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.deploy_support import (
    FAKE_CREDENTIALS,
    REGION,
    REPO,
    code_sha256,
    copy_image_tree,
    moto_server,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("POWERCYCLE_IMAGE_TEST") != "1",
        reason="builds the Docker image with buildah (minutes): POWERCYCLE_IMAGE_TEST=1 runs it",
    ),
]

BASE = "localhost/powercycle-base:bookworm"
IMAGE = "localhost/powercycle-deploy:test"
MIRROR = os.environ.get("POWERCYCLE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
CERTS = "/etc/ssl/certs"


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "powercycle-image"
    return Path(os.environ.get("POWERCYCLE_IMAGE_CACHE", str(default)))


def buildah(
    *args: str, timeout: float = 900, capture: bool = True
) -> subprocess.CompletedProcess[str]:
    cache = cache_dir()
    command = [
        "buildah",
        "--root",
        str(cache / "storage"),
        "--runroot",
        str(cache / "run"),
        "--storage-driver",
        "vfs",
        *args,
    ]
    done = subprocess.run(command, capture_output=capture, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def ensure_base() -> None:
    """The debootstrap base as an image, made once and kept in the cache."""
    if buildah("images", "--format", "{{.Name}}:{{.Tag}}").stdout.count(BASE):
        return
    rootfs = cache_dir() / "rootfs"
    if not (rootfs / "usr" / "bin" / "python3").exists():
        shutil.rmtree(rootfs, ignore_errors=True)
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-pip,zip,ca-certificates",
                "bookworm",
                str(rootfs),
                MIRROR,
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
    container = buildah("from", "scratch").stdout.strip()
    buildah("copy", container, str(rootfs), "/")
    buildah(
        "config",
        "--env",
        "PIP_BREAK_SYSTEM_PACKAGES=1",
        "--env",
        "LANG=C.UTF-8",
        "--cmd",
        "/bin/bash",
        container,
    )
    buildah("commit", "--rm", container, BASE)


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def existing_function(endpoint: str, name: str) -> str:
    """A function with a stub zip, published as version 1 behind the alias LIVE."""
    import io
    import zipfile

    role = client("iam", endpoint).create_role(
        RoleName="pc-image",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    stub = io.BytesIO()
    with zipfile.ZipFile(stub, "w") as zf:
        zf.writestr("stub.py", "def handler(event, context):\n    return {}\n")
    lam = client("lambda", endpoint)
    created = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="powercycle.handler.handler",
        Code={"ZipFile": stub.getvalue()},
    )
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="LIVE", FunctionVersion=version)
    return str(created["CodeSha256"])


def test_the_image_builds_its_package_and_its_entry_point_moves_live(tmp_path: Path) -> None:
    """buildah builds the Dockerfile (the zip made at build time); the image's entry point,
    run with host networking against moto, uploads that zip and moves LIVE to version 2."""
    for tool in ("buildah", "debootstrap"):
        assert shutil.which(tool), f"{tool} is not installed (.ci/run installs it)"
    ensure_base()
    context = copy_image_tree(tmp_path / "context")
    shutil.copyfile(REPO / "Dockerfile", context / "Dockerfile")
    buildah(
        "bud",
        "--isolation",
        "chroot",
        "--network",
        "host",
        "--from",
        BASE,
        "--volume",
        f"{CERTS}:{CERTS}:ro",
        "-t",
        IMAGE,
        str(context),
    )
    config = json.loads(buildah("inspect", "--type", "image", IMAGE).stdout)["OCIv1"]["config"]
    assert config["Entrypoint"] == ["/bin/bash", "./post-to-lambda.sh"]
    container = buildah("from", IMAGE).stdout.strip()
    try:
        packaged = subprocess.run(
            [
                "buildah",
                "--root",
                str(cache_dir() / "storage"),
                "--runroot",
                str(cache_dir() / "run"),
                "--storage-driver",
                "vfs",
                "run",
                "--isolation",
                "chroot",
                container,
                "--",
                "cat",
                "dist/powercycle.zip",
            ],
            capture_output=True,
            timeout=300,
            check=True,
        ).stdout
        zip_path = tmp_path / "in-image.zip"
        zip_path.write_bytes(packaged)
        with moto_server(tmp_path / "moto.log") as endpoint:
            stub_sha = existing_function(endpoint, "pc-image")
            env = {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_REGION": REGION,
                "AWS_LAMBDA_FUNCTION": "pc-image",
                **FAKE_CREDENTIALS,
            }
            flags = [item for name, value in env.items() for item in ("--env", f"{name}={value}")]
            ran = buildah(
                "run",
                "--isolation",
                "chroot",
                "--network",
                "host",
                *flags,
                container,
                "--",
                *config["Entrypoint"],
                timeout=300,
            )
            function = client("lambda", endpoint).get_function(FunctionName="pc-image")
            live = client("lambda", endpoint).get_alias(FunctionName="pc-image", Name="LIVE")
    finally:
        buildah("rm", container)
        buildah("rmi", IMAGE)  # the cache keeps the base only (vfs stores whole layers)
    assert "pc-image version 2 is LIVE" in ran.stdout + ran.stderr
    assert function["Configuration"]["CodeSha256"] == code_sha256(zip_path) != stub_sha
    assert live["FunctionVersion"] == "2"
