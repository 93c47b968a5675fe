# Cyclone's images, one build target each (docs/architecture.md, "Images"):
#
#   docker build --target api       -t cyclone-api .        python -m services.api
#   docker build --target scheduler -t cyclone-scheduler .  python -m services.scheduler
#   docker build --target scm       -t cyclone-scm .        python -m services.scm (git, svn)
#   docker build --target logs      -t cyclone-logs .       python -m services.logs
#   docker build --target cloud     -t cyclone-cloud .      python -m services.cloud (git, svn:
#                                                           Local clouds run workers beside it)
#   docker build --target worker    -t cyclone-worker .     python -m services.worker (git, svn),
#                                                           the `worker` container of worker pods
#   docker build -t cyclone .       the last target: everything, the api by default; the command
#                                   picks the service (docker-compose.yml runs it this way)
#
# All targets share the `base` layers, so building them all costs little more than one.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when the pins change, not on
# every code change. pyproject.toml pins the direct dependencies, constraints.txt the rest.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -c constraints.txt -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY services ./services
COPY shared ./shared
COPY tools ./tools
RUN pip install --no-deps . \
 && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home cyclone \
 && mkdir -p /data /workspace \
 && chown cyclone:cyclone /data /workspace

# Numeric user, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001

# In a container the gateway must listen on every interface, not 127.0.0.1.
ENV CYCLONE_HOST=0.0.0.0 \
    CYCLONE_PORT=7099 \
    CYCLONE_DATA_DIR=/data

# git and subversion for checkouts (worker), SVN repository identity (scm) and Local clouds
# (cloud: their workers run in its container).
FROM base AS vcs
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends git subversion openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
USER 10001:10001

FROM base AS scheduler
CMD ["python", "-m", "services.scheduler"]

FROM base AS logs
CMD ["python", "-m", "services.logs"]

FROM vcs AS scm
CMD ["python", "-m", "services.scm"]

FROM vcs AS cloud
CMD ["python", "-m", "services.cloud"]

# One record per container: the Kubernetes driver runs it with `--record-id <id>` in
# /workspace (an emptyDir shared with the pod's builder container).
FROM vcs AS worker
WORKDIR /workspace
CMD ["python", "-m", "services.worker", "--check"]

FROM base AS api
EXPOSE 7099
CMD ["python", "-m", "services.api"]

# The default target: every service's code and tools in one image.
FROM vcs AS cyclone
EXPOSE 7099
CMD ["python", "-m", "services.api"]
