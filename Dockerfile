# V0 Gateway image: runs the database migrations, then the gateway on 0.0.0.0:8000.
# Configure with V0_DATABASE_URL (e.g. a PostgreSQL URL), V0_POLICIES, V0_CLIENT_KEYS, V0_ADMIN_KEY, V0_WORKERS and the
# upstream variables named in policies.yaml (NVIDIA_NIM_API_KEY, NVIDIA_NIM_API_BASE by default).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    V0_DATABASE_URL=sqlite:////data/v0.db \
    V0_POLICIES=/app/policies.yaml \
    V0_STATE_DIR=/data/state

WORKDIR /app
COPY pyproject.toml README.md alembic.ini policies.yaml ./
COPY router ./router
COPY valuemodel ./valuemodel
COPY migrations ./migrations
# The CPU build of torch keeps the image small.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu .

RUN useradd --create-home --uid 10001 v0 && mkdir -p /data && chown v0:v0 /data
USER v0
VOLUME ["/data"]
EXPOSE 8000

CMD ["sh", "-c", "v0-gateway migrate && exec v0-gateway serve --host 0.0.0.0 --port 8000"]
