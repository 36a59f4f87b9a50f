# The deploy kit in an image: the Lambda package of this tree, built when the image is
# built, and post-to-lambda.sh, which uploads it to an existing function (created by the
# stack: `powercycle deploy`, docs/deploy.md) and moves its alias LIVE.
#
#   docker build -t powercycle-deploy .                      # --build-arg ARCH=arm64 for Graviton
#   # headless: everything from the environment (arguments go to post-to-lambda.sh)
#   docker run --rm --env AWS_LAMBDA_FUNCTION=powercycle --env AWS_REGION=eu-west-1 \
#       --env AWS_ACCESS_KEY_ID --env AWS_SECRET_ACCESS_KEY --env AWS_SESSION_TOKEN \
#       powercycle-deploy --invoke
#   # interactive: asks for what is missing
#   docker run --rm -it powercycle-deploy
#
# No credentials are baked in. package.sh fetches the dependency wheels (requirements.txt)
# from the package index while the image builds, so `docker run` needs no index and every
# run uploads the same bytes; rebuild the image after a change to the code or to
# requirements.txt.
FROM python:3.12.10-slim-bookworm

ARG AWSCLI_VERSION=1.46.3
ARG ARCH=x86_64

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN pip install --no-cache-dir "awscli==${AWSCLI_VERSION}" \
    && groupadd --gid 10001 powercycle \
    && useradd --no-log-init --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin powercycle \
    && install -d -o 10001 -g 10001 /app

WORKDIR /app
COPY --chown=10001:10001 . .
USER 10001:10001
# dist/powercycle.zip, for the function's architecture (its Architecture parameter).
RUN bash ./package.sh --arch "${ARCH}"

ENTRYPOINT ["/bin/bash", "./post-to-lambda.sh"]
