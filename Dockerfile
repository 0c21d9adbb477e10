# One slim image for every process of the platform; the command chooses which, e.g.
#   okr-goals serve | okr-goals relay | okr-metrics consume | okr-notifications worker
# (see docker-compose.yml and deploy/k8s/). Build: docker build -t okr-platform .
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OKR_HOST=0.0.0.0 \
    OKR_LOG_JSON=true
WORKDIR /app

# Dependencies first (their layer survives code changes): the full pinned lock file.
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --no-cache-dir -r requirements/runtime.txt

# The platform itself (shared/, services/; never the developer tools of tools/), without
# touching the pinned dependencies.
COPY pyproject.toml README.md ./
COPY shared shared
COPY services services
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf /app/build /app/*.egg-info \
    && groupadd --system --gid 10001 okr \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin okr

# A numeric user, so Kubernetes can verify runAsNonRoot.
USER 10001:10001
# APIs: goals 8081, metrics 8082, notifications 8083; worker metrics 9181-9183.
EXPOSE 8081 8082 8083 9181 9182 9183
CMD ["okr-goals", "serve"]
