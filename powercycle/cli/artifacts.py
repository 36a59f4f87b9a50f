"""What `powercycle deploy` puts in S3: the Lambda package and the bucket it goes in.

`Kit` finds template.yaml and package.sh in the clone; `build_package` runs package.sh
as a person would (its lines go to stderr), so the bytes are the script's own; the
artifacts bucket is made when missing (private, in the stack's region) and a package is
uploaded only when its key (its content hash) is not there yet. `cli.deploy` puts these
steps together with the stack (`cli.stack`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powercycle import aws
from powercycle.cli.output import UsageError
from powercycle.cli.stack import DeployFailed, say

__all__ = ["Kit", "build_package", "default_bucket", "ensure_bucket", "upload"]


@dataclass(frozen=True)
class Kit:
    """template.yaml and package.sh, side by side in a clone of powercycle."""

    template: Path
    package_script: Path

    @classmethod
    def find(cls, template: str | None) -> Kit:
        script = _find_up("package.sh")
        if template:
            path = Path(template)
            if not path.is_file():
                raise UsageError(f"no template at {template}")
        else:
            path = script.parent / "template.yaml" if script else Path("template.yaml")
            if not path.is_file():
                raise UsageError(
                    "no template.yaml: run powercycle deploy from a clone of powercycle "
                    "(or pass --template)"
                )
        return cls(template=path, package_script=script or Path("package.sh"))


def _find_up(name: str) -> Path | None:
    for folder in Path(__file__).resolve().parents:
        if (folder / name).is_file() and (folder / "template.yaml").is_file():
            return folder / name
    return None


def build_package(kit: Kit, arch: str, into: Path) -> Path:
    """`package.sh --arch ARCH` into `into`: the same bytes as running the script by hand."""
    if not kit.package_script.is_file():
        raise UsageError(
            "no package.sh next to template.yaml: run from a clone of powercycle or pass --zip"
        )
    output = into / "powercycle.zip"
    env = dict(os.environ)
    env.setdefault("PYTHON", sys.executable)
    say(f"building the package: package.sh --arch {arch}")
    # The script of this clone, run as a person would run it; its lines go to stderr.
    with subprocess.Popen(  # noqa: S603
        [
            shutil.which("bash") or "/bin/bash",
            str(kit.package_script),
            "--arch",
            arch,
            "--output",
            str(output),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as script:
        assert script.stdout is not None
        for line in script.stdout:
            print(f"  {line.rstrip()}", file=sys.stderr, flush=True)
    if script.returncode != 0:
        raise DeployFailed(f"package.sh failed (exit {script.returncode}); see its message above")
    return output


def default_bucket(account: str, region: str) -> str:
    return f"powercycle-artifacts-{account}-{region}"


def ensure_bucket(s3: Any, bucket: str, region: str) -> bool:
    """Make sure `bucket` exists in `region`; create it (private) when missing.

    Returns whether it was created.
    """
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as exc:
        code = aws.error_code(exc)
        if code in ("403", "AccessDenied", "Forbidden"):
            raise DeployFailed(
                f"bucket {bucket} exists but these credentials may not use it (another "
                "account's?): choose one with --bucket"
            ) from None
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
    else:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        if location == "EU":
            location = "eu-west-1"
        if location != region:
            raise DeployFailed(
                f"bucket {bucket} is in {location}, the stack in {region}: Lambda reads its "
                "code from the same region (choose another with --bucket)"
            )
        return False
    say(f"creating the artifacts bucket {bucket}")
    create: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**create)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return True


def upload(s3: Any, bucket: str, key: str, path: Path) -> bool:
    """Put the file at `key` unless it is there already (keys are content hashes)."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if aws.error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
            raise
    else:
        say(f"s3://{bucket}/{key} is there already")
        return False
    say(f"uploading s3://{bucket}/{key} ({path.stat().st_size} bytes)")
    s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    return True
