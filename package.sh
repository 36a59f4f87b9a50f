#!/usr/bin/env bash
# Build the Lambda deployment package dist/powercycle.zip from this working tree.
#
#   ./package.sh [--arch x86_64|arm64] [--python-version 3.12] [--include-boto3] [--output PATH]
#
# The zip holds the `powercycle` package as it is on disk (no clone, no git needed), the
# runtime dependencies from requirements.txt as wheels for the Lambda platform (without
# their own test suites), tzdata, README.md and LICENSE. boto3 and botocore (with s3transfer and jmespath) are left out:
# the Lambda Python runtime ships them. --include-boto3 bundles them, to pin the SDK
# version instead of using the runtime's.
#
# Reproducible: the same tree and the same resolved dependency versions give the same
# bytes, whatever the checkout path, file times or umask (sorted entries, fixed
# timestamps and permissions, no bytecode, no pip bookkeeping files that embed paths).
# Set PIP_CONSTRAINT to a file of `name==version` lines to pin the dependencies too.
#
# Needs python3 with pip (PYTHON names another interpreter) and access to PyPI.
set -euo pipefail

usage() {
    sed -n '2,17s/^# \{0,1\}//p' "$0"
}

die() {
    echo "package.sh: $*" >&2
    exit 2
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
ARCH="x86_64"
PYTHON_VERSION="3.12"
INCLUDE_BOTO3=0
OUTPUT="$ROOT/dist/powercycle.zip"

while [ $# -gt 0 ]; do
    case "$1" in
        --arch) [ $# -ge 2 ] || die "--arch needs a value"; ARCH="$2"; shift 2 ;;
        --arch=*) ARCH="${1#*=}"; shift ;;
        --python-version) [ $# -ge 2 ] || die "--python-version needs a value"; PYTHON_VERSION="$2"; shift 2 ;;
        --python-version=*) PYTHON_VERSION="${1#*=}"; shift ;;
        --include-boto3) INCLUDE_BOTO3=1; shift ;;
        --output|-o) [ $# -ge 2 ] || die "--output needs a value"; OUTPUT="$2"; shift 2 ;;
        --output=*) OUTPUT="${1#*=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

case "$ARCH" in
    x86_64|amd64) ARCH="x86_64"; PLATFORM="manylinux2014_x86_64" ;;
    arm64|aarch64) ARCH="arm64"; PLATFORM="manylinux2014_aarch64" ;;
    *) die "--arch must be x86_64 or arm64, got '$ARCH'" ;;
esac
[[ "$PYTHON_VERSION" =~ ^3\.[0-9]+$ ]] || die "--python-version must look like 3.12, got '$PYTHON_VERSION'"
command -v "$PYTHON" >/dev/null 2>&1 || die "no Python interpreter '$PYTHON' (set PYTHON)"
[ -d "$ROOT/powercycle" ] || die "no powercycle/ package next to this script in $ROOT"
[ -f "$ROOT/requirements.txt" ] || die "no requirements.txt in $ROOT"

BUILD="$(mktemp -d "${TMPDIR:-/tmp}/powercycle-package.XXXXXX")"
trap 'rm -rf "$BUILD"' EXIT

echo "package.sh: dependencies for python$PYTHON_VERSION on $PLATFORM" >&2
# boto3 stays in the resolution even when it is not bundled, so that what is bundled
# (python-dateutil, urllib3, ...) fits the botocore of the runtime it will sit beside.
# tzdata: the IANA zone database, so a schedule's `tz` works whether or not the runtime
# image carries /usr/share/zoneinfo. --no-warn-conflicts: pip would compare the target
# with the packages of the interpreter running it, which is irrelevant here.
PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install \
    --quiet --disable-pip-version-check --no-warn-conflicts --no-warn-script-location \
    --no-compile --only-binary=:all: \
    --platform "$PLATFORM" --implementation cp --python-version "$PYTHON_VERSION" \
    --target "$BUILD/site" \
    -r "$ROOT/requirements.txt" tzdata

"$PYTHON" - "$ROOT" "$BUILD/site" "$OUTPUT" "$INCLUDE_BOTO3" <<'PY'
import base64
import hashlib
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

root, site, output, include_boto3 = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "1"

# What the Lambda Python runtime provides and the bundle leaves out by default.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath"}
# pip's bookkeeping: not needed to import, and RECORD/direct_url.json depend on the build.
BOOKKEEPING = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
FILE_MODE = 0o100644
LAMBDA_DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_name(dist_info: Path) -> str:
    for line in (dist_info / "METADATA").read_text(encoding="utf-8").splitlines():
        if line.startswith("Name:"):
            return canonical(line.partition(":")[2].strip())
    raise SystemExit(f"package.sh: {dist_info.name} has no Name in METADATA")


def remove_dist(dist_info: Path) -> None:
    """Delete one installed distribution, file by file, from its RECORD."""
    for line in (dist_info / "RECORD").read_text(encoding="utf-8").splitlines():
        rel = line.rsplit(",", 2)[0] if line else ""
        if not rel:
            continue
        path = (site / rel).resolve()
        if site.resolve() in path.parents and path.is_file():
            path.unlink()
    shutil.rmtree(dist_info, ignore_errors=True)


bundled: list[str] = []
for dist_info in sorted(site.glob("*.dist-info")):
    name = dist_name(dist_info)
    if name in RUNTIME_PROVIDED and not include_boto3:
        remove_dist(dist_info)
        continue
    bundled.append(dist_info.name.removesuffix(".dist-info"))

# Console scripts carry the build interpreter's path in their shebang; Lambda needs none.
shutil.rmtree(site / "bin", ignore_errors=True)
# The dependencies' own test suites (icalendar/tests, recurring_ical_events/test,
# croniter/tests: 430 KB compressed) are never imported by the Lambda.
for tests in sorted(site.glob("*/test")) + sorted(site.glob("*/tests")):
    if tests.is_dir() and (tests.parent / "__init__.py").is_file():
        shutil.rmtree(tests)
for dirpath, dirnames, filenames in os.walk(site, topdown=False):
    here = Path(dirpath)
    for name in filenames:
        path = here / name
        if (
            name.endswith((".pyc", ".pyo"))
            or (here.name.endswith(".dist-info") and name in BOOKKEEPING)
        ):
            path.unlink()
    if here.name == "__pycache__" or (here != site and not any(here.iterdir())):
        shutil.rmtree(here)


def skipped(rel: Path) -> bool:
    # powercycle/local (the demo and the CAST AI stand-in) runs on operators' machines only.
    return (
        any(part == "__pycache__" or part.startswith(".") for part in rel.parts)
        or rel.suffix in {".pyc", ".pyo"}
        or rel.parts[:2] == ("powercycle", "local")
    )


entries: dict[str, Path] = {}


def add(arcname: str, path: Path) -> None:
    if arcname in entries:
        raise SystemExit(f"package.sh: two files for {arcname}: {entries[arcname]} and {path}")
    entries[arcname] = path


for dirpath, _dirs, filenames in os.walk(site):
    for name in filenames:
        path = Path(dirpath) / name
        add(path.relative_to(site).as_posix(), path)
package = root / "powercycle"
for dirpath, _dirs, filenames in os.walk(package):
    for name in filenames:
        path = Path(dirpath) / name
        rel = path.relative_to(root)
        if not skipped(rel):
            add(rel.as_posix(), path)
for name in ("README.md", "LICENSE"):
    if (root / name).is_file():
        add(name, root / name)
    else:
        print(f"package.sh: warning: no {name} in {root}; the zip goes without it", file=sys.stderr)

output.parent.mkdir(parents=True, exist_ok=True)
partial = output.with_name(output.name + ".partial")
with zipfile.ZipFile(partial, "w") as zf:
    for arcname in sorted(entries):
        info = zipfile.ZipInfo(arcname, date_time=FIXED_TIME)
        info.create_system = 3  # unix, so that the mode below is honoured by unzip
        info.external_attr = FILE_MODE << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, entries[arcname].read_bytes(), compresslevel=9)
os.replace(partial, output)

data = output.read_bytes()
digest = hashlib.sha256(data)
size = len(data)
print(f"bundled: {', '.join(bundled)}", file=sys.stderr)
print(
    f"{output}: {size} bytes ({size / 1024 / 1024:.2f} MiB), {len(entries)} files, "
    f"sha256 {digest.hexdigest()}, CodeSha256 {base64.b64encode(digest.digest()).decode()}"
)
if size > LAMBDA_DIRECT_UPLOAD_LIMIT:
    raise SystemExit(
        f"package.sh: {output} is {size} bytes, over the {LAMBDA_DIRECT_UPLOAD_LIMIT} bytes "
        "Lambda accepts in a direct upload"
    )
PY
