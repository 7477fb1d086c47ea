# The two commands of the README: `make run` and `make test`. Everything else is a step of them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SERVICES := scripts/services.sh

.PHONY: help venv services migrate seed run test lint format stop status collectstatic bench browser asyncapi asyncapi-check client

help:
	@echo "make run     set up everything and run the whole stack (Ctrl-C stops the processes)"
	@echo "make test    set up everything, lint, and run the test suite against the real services"
	@echo "make stop    stop the application processes and the services"
	@echo "make status  show which services run"
	@echo "make bench   load-test the stack against a bare relay (QUICK=1: the 2-minute run)"

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

venv: $(STAMP)

services: venv
	$(SERVICES) start postgres
	$(SERVICES) start redis
	$(SERVICES) start cassandra

migrate: services
	$(PY) manage.py migrate --noinput
	$(PY) manage.py cassandra_migrate

seed: migrate
	$(PY) manage.py seed_demo

collectstatic: venv
	$(PY) manage.py collectstatic --noinput -v 0

run: seed collectstatic
	$(SERVICES) start nginx
	scripts/run.sh

# uses the stack of `make run` when it runs, else starts it and stops it again (bench/run.sh)
bench: venv
	bench/run.sh $(if $(QUICK),--quick)

lint: venv
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports  # the import contracts of pyproject.toml

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# the browser UI's end-to-end tests (tests/browser/) run in Debian's chromium; its JavaScript
# client has unit tests of its own under node's built-in test runner (tests/js/)
browser:
	scripts/browser.sh

# the WebSocket protocol's AsyncAPI document, generated from the frame schemas of
# chat/protocol_schema.py (a test fails while the committed docs/asyncapi.yaml is not current)
asyncapi: venv
	$(PY) manage.py asyncapi

# docs/asyncapi.yaml is current and valid against AsyncAPI's own JSON Schema for 3.0.0, from the
# npm package @asyncapi/specs (pinned; fetched once into var/tools/)
ASYNCAPI_SPECS_VERSION := 6.11.1
ASYNCAPI_META := var/tools/asyncapi-specs-$(ASYNCAPI_SPECS_VERSION)/asyncapi-3.0.0.schema.json
$(ASYNCAPI_META):
	mkdir -p $(@D)
	cd $(@D) && npm pack --silent @asyncapi/specs@$(ASYNCAPI_SPECS_VERSION) >/dev/null \
		&& tar xzf asyncapi-specs-$(ASYNCAPI_SPECS_VERSION).tgz \
		&& cp 'package/schemas/3.0.0-without-$$id.json' $(@F)

asyncapi-check: venv $(ASYNCAPI_META)
	$(PY) manage.py asyncapi --check --meta-schema $(ASYNCAPI_META)

# the REST client that openapi-python-client generates from the OpenAPI schema, to look at
# (tests/test_generated_client.py generates its own from the live stack's schema and uses it)
client: venv
	rm -rf var/generated-client && mkdir -p var/generated-client
	$(PY) manage.py spectacular --format openapi-json --file var/generated-client/openapi.json
	$(PY) -c 'import json, sys; from tests.test_generated_client import schema_for_generator as f; \
		p = sys.argv[1]; json.dump(f(json.load(open(p))), open(p, "w"))' var/generated-client/openapi.json
	$(VENV)/bin/openapi-python-client generate --path var/generated-client/openapi.json --meta none \
		--config tests/openapi-client.yaml --output-path var/generated-client/chat_api_client --fail-on-warning

# the pytest suites run as parallel groups, each with databases of its own (scripts/test.sh);
# PYTEST_ARGS="..." runs one pytest with those arguments instead
test: services lint asyncapi-check browser
	node --test tests/js/
	PYTEST_ARGS="$(PYTEST_ARGS)" scripts/test.sh

stop:
	-scripts/run.sh stop
	$(SERVICES) stop all

status: 
	$(SERVICES) status all
