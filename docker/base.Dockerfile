# The shared base of the four service images (producer, worker, aggregator, webserver):
# Python, the project's dependencies and its code, installed from pyproject.toml. Built
# first by deploy.sh as hzz-pipeline/base:<version>; each service's Dockerfile only adds
# its command. Build context: the repository root (see .dockerignore).
#   docker build -f docker/base.Dockerfile -t hzz-pipeline/base:1.0.0 .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src

# Dependencies first, in their own layer, so that a code change does not reinstall them:
# the list is read from pyproject.toml itself ([project] dependencies), not copied anywhere.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the project itself (shared/, the services, hzz/), as a normal install.
COPY . .
RUN pip install --no-cache-dir --no-deps . \
    && groupadd --gid 10001 hzz \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin hzz

# The services run from an empty folder: in /src, `python -m hzz.worker` would import the source
# tree's hzz/ (the CLI folder, without the package-dir mapping that makes worker/ hzz.worker)
# instead of the installed package, and fail.
WORKDIR /app

# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
