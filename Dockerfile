# One image for every Cyclone process; the command picks the service:
#   python -m services.api (default) | services.scheduler | services.scm | services.logs
#   | services.cloud
FROM python:3.11-slim

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
 && mkdir -p /data \
 && chown cyclone:cyclone /data

# Numeric user, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001

# In a container the gateway must listen on every interface, not 127.0.0.1.
ENV CYCLONE_HOST=0.0.0.0 \
    CYCLONE_PORT=7099 \
    CYCLONE_DATA_DIR=/data

EXPOSE 7099
CMD ["python", "-m", "services.api"]
