# Two commands: `make serve` (set up, migrate, run the gateway) and `make test` (set up, run the suite).
# Setup is idempotent: the virtualenv is created once and reinstalled only when pyproject.toml changes.
# It installs the training extra too (`prepare` exports V0's ONNX files with torch); a serving-only
# install is `.[serve]` (see README, *Deploy*).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.v0-installed

export HF_HUB_OFFLINE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export V0_DATABASE_URL ?= sqlite:///./v0.db
export V0_POLICIES ?= ./policies.yaml
PORT ?= 8000

.PHONY: setup migrate prepare serve test image image-test clean

# Container image (README, *Deploy*). BASE_IMAGE: any Debian-based image; CI builds a local one.
# CA_BUNDLE: the CA bundle the build's pip trusts (a TLS-inspecting proxy's, or the system's).
IMAGE ?= v0-gateway:latest
BASE_IMAGE ?= python:3.11-slim
CA_BUNDLE ?= $(firstword $(wildcard /etc/ssl/certs/ca-certificates.crt))
DOCKER ?= docker
, := ,

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[train,test]'
	touch $(STAMP)

migrate: setup
	$(BIN)/v0-gateway migrate

# the V0 backbone's ONNX files (exported with torch, once); serve itself never imports torch
prepare: setup
	$(BIN)/v0-gateway prepare

serve: migrate prepare
	$(BIN)/v0-gateway serve --host 127.0.0.1 --port $(PORT)

test: setup
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# V0's ONNX files (torch, here) and the default profiles' features into .image/cache, then the image.
image: setup
	V0_CACHE_DIR=$(CURDIR)/.image/cache nice -n 5 $(BIN)/v0-gateway prepare
	DOCKER_BUILDKIT=1 nice -n 5 $(DOCKER) build --network host $(if $(CA_BUNDLE),--secret id=ca$(,)src=$(CA_BUNDLE)) \
		--build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(IMAGE) .

# Docker and a local Debian base when missing, the image, then the image run for real (.ci/image-test).
image-test: setup
	VENV_BIN=$(abspath $(BIN)) .ci/image-test

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .image
