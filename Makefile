# Two commands: `make run` sets everything up and starts the wizard; `make test` runs the tests.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test setup system

run: setup
	$(PY) -m app.main generate_music

test: setup
	$(PY) -m pytest -q tests

setup: system $(STAMP)

system:
	@bash scripts/install_system.sh

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)
