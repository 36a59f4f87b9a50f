#!/usr/bin/env bash
# Upload dist/powercycle.zip to an existing Lambda function, publish it as a new version
# and point the alias LIVE at that version.
#
#   ./post-to-lambda.sh [--zip PATH] [--alias NAME] [--function NAME] [--invoke]
#
# Headless when AWS_LAMBDA_FUNCTION is set: credentials and region come from the usual
# AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION
# or AWS_DEFAULT_REGION), a profile (AWS_PROFILE) or a role. Without it, the script asks
# for what is missing when a terminal is attached, and otherwise stops at once, naming
# the missing variables. AWS_ENDPOINT_URL points the AWS CLI at another endpoint.
#
#   --invoke   before moving the alias, invoke the new version with {"dryRun": true}
#              and stop, leaving the alias where it was, when the function reports an
#              error (a FunctionError, or entries in the summary's "errors").
#              Also POWERCYCLE_INVOKE=true.
#   --zip      the package to upload (default dist/powercycle.zip; POWERCYCLE_ZIP)
#   --alias    the alias to create or move (default LIVE; POWERCYCLE_ALIAS)
#   --function the function name or ARN (same as AWS_LAMBDA_FUNCTION)
#
# Steps: update-function-code, wait function-updated, publish-version (pinned to the
# uploaded CodeSha256, so a concurrent upload cannot slip in), [invoke], create-alias or
# update-alias. Needs the AWS CLI (`aws`) and python3.
set -euo pipefail

PROG="post-to-lambda.sh"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
ZIP="${POWERCYCLE_ZIP:-$ROOT/dist/powercycle.zip}"
ALIAS="${POWERCYCLE_ALIAS:-LIVE}"
INVOKE="${POWERCYCLE_INVOKE:-false}"
FUNCTION="${AWS_LAMBDA_FUNCTION:-}"

usage() {
    sed -n '2,23s/^# \{0,1\}//p' "$0"
}

die() {
    echo "$PROG: $*" >&2
    exit 1
}

say() {
    echo "$PROG: $*" >&2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --zip) [ $# -ge 2 ] || die "--zip needs a value"; ZIP="$2"; shift 2 ;;
        --zip=*) ZIP="${1#*=}"; shift ;;
        --alias) [ $# -ge 2 ] || die "--alias needs a value"; ALIAS="$2"; shift 2 ;;
        --alias=*) ALIAS="${1#*=}"; shift ;;
        --function) [ $# -ge 2 ] || die "--function needs a value"; FUNCTION="$2"; shift 2 ;;
        --function=*) FUNCTION="${1#*=}"; shift ;;
        --invoke) INVOKE=true; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$PROG: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

case "$(printf '%s' "$INVOKE" | tr '[:upper:]' '[:lower:]')" in
    true|1|yes|on) INVOKE=true ;;
    false|0|no|off|"") INVOKE=false ;;
    *) echo "$PROG: POWERCYCLE_INVOKE='$INVOKE' is not a boolean; use true or false" >&2; exit 2 ;;
esac

have_region() {
    [ -n "${AWS_REGION:-}" ] || [ -n "${AWS_DEFAULT_REGION:-}" ]
}

have_credentials() {
    # Only what the environment says; a role or a profile's default is found by the CLI.
    { [ -n "${AWS_ACCESS_KEY_ID:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ]; } \
        || [ -n "${AWS_PROFILE:-}" ] \
        || [ -n "${AWS_WEB_IDENTITY_TOKEN_FILE:-}" ] \
        || [ -n "${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-}" ] \
        || [ -n "${AWS_CONTAINER_CREDENTIALS_FULL_URI:-}" ]
}

# -- settings: headless, interactive, or stop at once ----------------------------------
if [ -z "$FUNCTION" ]; then
    if [ ! -t 0 ]; then
        {
            echo "$PROG: AWS_LAMBDA_FUNCTION is not set and no terminal is attached to ask on."
            echo "Set these variables (headless mode), or run from a terminal to be asked:"
            echo "  AWS_LAMBDA_FUNCTION    name or ARN of the Lambda function to update (missing)"
            have_region || echo "  AWS_REGION             region of the function, or AWS_DEFAULT_REGION (missing)"
            have_credentials || echo "  AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (missing; not needed with a role)"
        } >&2
        exit 2
    fi
fi
command -v aws >/dev/null 2>&1 || die "the AWS CLI (aws) is not on PATH: pip install awscli"
command -v "$PYTHON" >/dev/null 2>&1 || die "no Python interpreter '$PYTHON' (set PYTHON)"
if [ -z "$FUNCTION" ]; then
    # Interactive: ask only for what the environment does not already say.
    while [ -z "$FUNCTION" ]; do
        read -r -p "Lambda function name or ARN: " FUNCTION || die "no function name given"
    done
    if ! have_region && [ -z "$(aws configure get region 2>/dev/null || true)" ]; then
        region=""
        while [ -z "$region" ]; do
            read -r -p "AWS region (e.g. eu-west-1): " region || die "no region given"
        done
        export AWS_REGION="$region"
    fi
    if ! have_credentials && [ -z "$(aws configure get aws_access_key_id 2>/dev/null || true)" ]; then
        key_id=""
        read -r -p "AWS access key id (empty: use the default credential chain, e.g. a role): " key_id \
            || die "no answer"
        if [ -n "$key_id" ]; then
            secret=""
            read -r -s -p "AWS secret access key (not shown): " secret || die "no secret given"
            echo >&2
            [ -n "$secret" ] || die "an access key id needs its secret access key"
            export AWS_ACCESS_KEY_ID="$key_id" AWS_SECRET_ACCESS_KEY="$secret"
            unset AWS_SESSION_TOKEN
            unset secret
        fi
    fi
fi
# AWS CLI v1 reads only AWS_DEFAULT_REGION; v2 prefers AWS_REGION. Give both the same.
if [ -n "${AWS_REGION:-}" ]; then
    export AWS_DEFAULT_REGION="$AWS_REGION"
fi
if ! have_region && [ -z "$(aws configure get region 2>/dev/null || true)" ]; then
    die "no region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in your AWS profile)"
fi
[ -f "$ZIP" ] || die "no package at $ZIP: run ./package.sh first (or pass --zip)"

export AWS_PAGER=""  # AWS CLI v2 would page output in a terminal

WORK="$(mktemp -d "${TMPDIR:-/tmp}/post-to-lambda.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
STEP="preparing"
trap 'echo "$PROG: $STEP failed (exit $?); see the AWS CLI message above" >&2' ERR

# CodeSha256 as Lambda reports it: base64 of the SHA-256 digest of the zip.
LOCAL_SHA="$("$PYTHON" -c 'import base64, hashlib, sys
print(base64.b64encode(hashlib.sha256(open(sys.argv[1], "rb").read()).digest()).decode())' "$ZIP")"
say "updating ${FUNCTION} from ${ZIP} ($(wc -c < "$ZIP" | tr -d ' ') bytes, CodeSha256 ${LOCAL_SHA})${AWS_ENDPOINT_URL:+ at ${AWS_ENDPOINT_URL}}"

# -- 1. upload ------------------------------------------------------------------------------
STEP="update-function-code"
if ! UPLOADED_SHA="$(aws lambda update-function-code --function-name "$FUNCTION" \
    --zip-file "fileb://$ZIP" --query CodeSha256 --output text 2>"$WORK/upload.err")"; then
    if grep -q ResourceNotFoundException "$WORK/upload.err"; then
        # The function comes from the stack (template.yaml): this script only updates it.
        REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region 2>/dev/null || true)}}"
        die "update-function-code failed: no function ${FUNCTION} in ${REGION:-this region} (ResourceNotFoundException): deploy the template first (powercycle deploy --region ${REGION:-R})"
    fi
    cat "$WORK/upload.err" >&2
    die "update-function-code failed; see the AWS CLI message above"
fi
[ "$UPLOADED_SHA" = "$LOCAL_SHA" ] \
    || die "Lambda reports CodeSha256 ${UPLOADED_SHA} for the upload, expected ${LOCAL_SHA}"

# -- 2. wait until the update has been applied (publishing earlier races it) ----------------
STEP="wait function-updated"
aws lambda wait function-updated --function-name "$FUNCTION" \
    || die "${FUNCTION} did not finish updating (see LastUpdateStatusReason in get-function-configuration)"

# -- 3. publish exactly what was uploaded ----------------------------------------------------
STEP="publish-version"
VERSION="$(aws lambda publish-version --function-name "$FUNCTION" --code-sha256 "$LOCAL_SHA" \
    --description "powercycle CodeSha256 ${LOCAL_SHA}" --query Version --output text)"
say "published version ${VERSION}"

# -- 4. optionally try the new version before it goes live -----------------------------------
if [ "$INVOKE" = true ]; then
    STEP="invoke"
    printf '{"dryRun": true}' > "$WORK/payload.json"
    FUNCTION_ERROR="$(aws lambda invoke --function-name "$FUNCTION" --qualifier "$VERSION" \
        --payload "fileb://$WORK/payload.json" --query FunctionError --output text \
        "$WORK/response.json")"
    "$PYTHON" - "$WORK/response.json" "$FUNCTION_ERROR" "$VERSION" "$ALIAS" <<'PY' || exit 1
import json
import sys

path, function_error, version, alias = sys.argv[1:5]
raw = open(path, encoding="utf-8", errors="replace").read()
prog = "post-to-lambda.sh"


def fail(message: str) -> None:
    print(f"{prog}: version {version} {message}; alias {alias} left unchanged", file=sys.stderr)
    sys.exit(1)


if function_error not in ("", "None", "null"):
    fail(f"reported FunctionError={function_error}: {raw[:2000]}")
try:
    summary = json.loads(raw)
except ValueError:
    fail(f"returned something that is not JSON: {raw[:500]!r}")
if not isinstance(summary, dict) or "errors" not in summary or "counts" not in summary:
    fail(f"returned something that is not a powercycle summary: {raw[:500]}")
if summary.get("dryRun") is not True:
    fail(f"did not run as a dry run: {raw[:500]}")
planned = [f"{a.get('action')} {a.get('id')}" for a in summary.get("actions", [])]
print(
    f"{prog}: dry run of version {version}: scanned {summary.get('scanned')}, "
    f"counts {json.dumps(summary.get('counts'))}, planned {planned or 'nothing'}",
    file=sys.stderr,
)
if summary["errors"]:
    fail(f"reported errors: {json.dumps(summary['errors'])[:2000]}")
PY
fi

# -- 5. point the alias at the new version ----------------------------------------------------
STEP="alias ${ALIAS}"
if PREVIOUS="$(aws lambda get-alias --function-name "$FUNCTION" --name "$ALIAS" \
        --query FunctionVersion --output text 2> "$WORK/get-alias.err")"; then
    aws lambda update-alias --function-name "$FUNCTION" --name "$ALIAS" \
        --function-version "$VERSION" > /dev/null
    say "alias ${ALIAS} moved from version ${PREVIOUS} to ${VERSION}"
elif grep -q "ResourceNotFoundException" "$WORK/get-alias.err"; then
    aws lambda create-alias --function-name "$FUNCTION" --name "$ALIAS" \
        --function-version "$VERSION" > /dev/null
    say "alias ${ALIAS} created at version ${VERSION}"
else
    cat "$WORK/get-alias.err" >&2
    die "could not read alias ${ALIAS} of ${FUNCTION}"
fi
echo "${FUNCTION} version ${VERSION} is ${ALIAS} (CodeSha256 ${LOCAL_SHA})"
