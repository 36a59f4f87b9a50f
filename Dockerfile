# The deploy kit in an image: packages this working tree (package.sh), then uploads it to
# an existing Lambda function and moves its alias LIVE (post-to-lambda.sh).
#
#   docker build -t powercycle-deploy .
#   # headless: everything from the environment (arguments go to post-to-lambda.sh)
#   docker run --rm --env AWS_LAMBDA_FUNCTION=powercycle --env AWS_REGION=eu-west-1 \
#       --env AWS_ACCESS_KEY_ID --env AWS_SECRET_ACCESS_KEY --env AWS_SESSION_TOKEN \
#       powercycle-deploy --invoke
#   # interactive: asks for what is missing
#   docker run --rm -it powercycle-deploy
#
# No credentials are baked in. package.sh fetches the dependency wheels from PyPI when
# the container runs, so the image needs no rebuild when requirements.txt changes.
FROM python:3.12.10-slim-bookworm

ARG AWSCLI_VERSION=1.46.3

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

ENTRYPOINT ["/bin/bash", "-c", "bash ./package.sh && exec bash ./post-to-lambda.sh \"$@\"", "post-to-lambda.sh"]
