# Two entry points for a newcomer: `make run` and `make test`. Everything else is set up here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install demo browser clean lock docker-engine base-image image image-test

# The runtime dependencies come from the lock file, hashes checked, as in the image: the tests
# run what the container runs. The test tools (not locked) come after, from pyproject.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# The HTML pages are checked in a real headless browser: Debian's chromium (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

run: $(STAMP)
	$(BIN)/iomwatch run

demo: $(STAMP)
	$(BIN)/iomwatch demo

# mypy strict on the tests and benches too.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy crawler scheduler feeds replica tests bench
	$(BIN)/hadolint Dockerfile

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

# The container (README "Container"). Docker Hub unreachable: the base image is a local debootstrap
# of Debian bookworm; with a registry, `make image BASE_IMAGE=python:3.11-slim-bookworm`.
IMAGE ?= iomwatch:latest
LOCAL_BASE := iomwatch-base:bookworm
BASE_IMAGE ?= $(LOCAL_BASE)
STOP_TIMEOUT ?= 60

# The dependencies pinned with their hashes; the image installs exactly these.
lock: $(STAMP)
	@test -x $(BIN)/uv || $(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml docker/build-requirements.in --generate-hashes \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  --custom-compile-command "make lock" --quiet -o requirements.lock
	$(BIN)/uv pip compile docker/build-requirements.in --generate-hashes \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  --custom-compile-command "make lock" --quiet -o docker/build.lock

docker-engine:
	@docker/engine.sh

base-image: docker-engine
	@if [ "$(BASE_IMAGE)" = "$(LOCAL_BASE)" ]; then docker/base-image.sh $(LOCAL_BASE); fi

image: base-image
	@mkdir -p build; rm -f build/ca-bundle.crt
	@if [ -n "$$PIP_CERT" ] && [ -f "$$PIP_CERT" ]; then cp "$$PIP_CERT" build/ca-bundle.crt; fi
	@start=$$(date +%s); \
	  docker build --network host --build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(IMAGE) . || exit 1; \
	  echo "built $(IMAGE) in $$(( $$(date +%s) - start )) s"
	@docker image ls $(IMAGE) --format 'image {{.Repository}}:{{.Tag}}: {{.Size}}'

# Build, run against the replica and a local mailbox, publish, check feed and mail, SIGTERM.
image-test: image $(STAMP)
	$(BIN)/python docker/image_check.py --image $(IMAGE) --stop-timeout $(STOP_TIMEOUT)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
