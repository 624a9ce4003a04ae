# The two commands a new user needs: `make demo` and `make test`.
# Every target creates .venv and installs what it needs when missing.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LAKE   ?= var/demo/lake
export SPARK_LOCAL_IP ?= 127.0.0.1

.PHONY: install demo test test-fast bench lint clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	# torch first, pinned: the CPU wheel on these machines; nothing may pull a newer one.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) jobs/demo.py --lake $(LAKE)

test: $(STAMP)
	ALERT_LAKE_ENV=test $(PY) -m pytest

test-fast: $(STAMP)
	ALERT_LAKE_ENV=test $(PY) -m pytest -m "not slow"

bench: $(STAMP)
	$(PY) bench/run_all.py

lint: $(STAMP)
	$(PY) -m pip install --quiet ruff
	$(PY) -m ruff check lake jobs models bench tests

clean:
	rm -rf var .pytest_cache
