# The two commands a new user needs: `make demo` and `make test`.
# Every target creates .venv and installs what it needs when missing.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LAKE   ?= var/demo/lake
export SPARK_LOCAL_IP ?= 127.0.0.1

MODELS := var/models/.built
MODEL_SOURCES := $(shell find science simulator -name '*.py' 2>/dev/null)

.PHONY: install models demo test test-fast bench bench-nightly bench-cluster lint clean chromium

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	# torch first, pinned: the CPU wheel on these machines; nothing may pull a newer one.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The default classifiers: trained from simulated seasons plus the real labeled light
# curves in ../shared/data when present (a few minutes on 2 cores); rebuilt when their code changes.
models: $(MODELS)

$(MODELS): $(STAMP) $(MODEL_SOURCES)
	$(PY) jobs/train_lc.py --simulated --backend both
	$(PY) jobs/train_stamp.py --simulated
	$(PY) jobs/train_anomaly.py --simulated
	touch $(MODELS)

demo: $(STAMP) $(MODELS)
	$(PY) jobs/demo.py --lake $(LAKE)

test: $(STAMP) $(MODELS) chromium
	ALERT_LAKE_ENV=test $(PY) -m pytest

test-fast: $(STAMP) $(MODELS)
	ALERT_LAKE_ENV=test $(PY) -m pytest -m "not slow"

bench: $(STAMP) $(MODELS)
	$(PY) bench/run_all.py

# Whole nights of 1e4 .. 1e5 simulated alerts through every stage (tens of minutes);
# add larger sizes with: make bench-nightly SIZES="1e4 1e5 1e6"
SIZES ?= 1e4 2e4 1e5
bench-nightly: $(STAMP) $(MODELS)
	$(PY) bench/nightly.py --sizes $(SIZES)

# The same simulated night on a standalone cluster with one and with two workers, next to
# the embedded engine (per-stage time, alerts/s, speed-up); ALERTS=5e4 by default.
ALERTS ?= 5e4
bench-cluster: $(STAMP) $(MODELS)
	$(PY) -m lake.engine.cluster resolve
	$(PY) bench/cluster.py --alerts $(ALERTS)

lint: $(STAMP)
	$(PY) -m pip install --quiet ruff
	$(PY) -m ruff check lake science simulator jobs bench tests alert_lake_client

# Headless Chromium renders the published pages in the tests (Debian packages).
chromium:
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null && \
		{ apt-get update -qq && apt-get install -y -qq chromium chromium-driver; } || \
		echo "warning: chromium not installed: the page-rendering tests will be skipped"; }

clean:
	rm -rf var .pytest_cache
