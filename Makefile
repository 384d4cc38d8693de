# Phoenyra EMS — everything a fresh machine with Python 3.11 needs.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_STAMP := $(VENV)/.demo-installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# Home Assistant's own test harness pins HA 2024.3.3, aiohttp 3.9.3 …: a venv of its own.
VENV_HA  ?= .venv-ha
HA_PIN   := pytest-homeassistant-custom-component==0.13.109
# + HA 2024.3's own pins of what a real installation already has: zeroconf and the requirements HA checks
# for an integration with a zeroconf matcher (zeroconf/homekit: fnv-hash-fast, psutil-home-assistant),
# janus (the MQTT integration's file_upload); coverage and mypy for the integration
HA_EXTRAS := zeroconf==0.131.0 fnv-hash-fast==0.5.0 psutil-home-assistant==0.0.1 janus==1.0.0 \
             pytest-cov==4.1.0 mypy==1.15.0
HA_STAMP := $(VENV_HA)/.installed-$(shell echo "$(HA_PIN) $(HA_EXTRAS)" | cksum | cut -d' ' -f1)
# The client distribution (phoenyra-client, from phoenyra_ems/client/) and the HACS release zip.
VENV_DIST  ?= .venv-dist
DIST_PINS  := build>=1.2 setuptools>=77
DIST_STAMP := $(VENV_DIST)/.installed-$(shell echo "$(DIST_PINS)" | cksum | cut -d' ' -f1)
CLIENT_VERSION = $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' phoenyra_ems/client/version.py)

.PHONY: demo test test-core test-ha test-ha-install dist lint typecheck bench clean install broker postgres prism

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(PIP) install -q -e '.[server,tui,ml,dev]'
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

# the demo needs only the daemon, the simulator and the console: not Prophet, scikit-learn, schemathesis
$(DEMO_STAMP): $(BIN)/python pyproject.toml
	$(PIP) install -q -e '.[demo]'
	@rm -f $(VENV)/.demo-installed-*; touch $(DEMO_STAMP)

## broker: a real MQTT broker (Debian's mosquitto) for the tests; they start it on a free port
broker:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || { \
	  echo "installing mosquitto (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq mosquitto >/dev/null; }

## postgres: a real PostgreSQL server (Debian's) for the ledger tests; they initdb and start their own
## on a free loopback port (as root: as the package's postgres user). Without it they are skipped.
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing postgresql (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

## prism: Stoplight Prism 5 (npm) in .prism/, an independent OpenADR 3 peer for the VPP tests
## (tests/vpp/test_prism.py; skipped only when Node.js is absent)
PRISM_STAMP := .prism/.installed-5
$(PRISM_STAMP):
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: the Prism test will be skipped"; exit 0; }; \
	  mkdir -p .prism && cd .prism && npm install --no-audit --no-fund --silent @stoplight/prism-cli@5 \
	  && touch .installed-5

prism: $(PRISM_STAMP)

## demo: two simulated sites (Wien, Linz) on loopback Modbus TCP, controlled live
demo: $(DEMO_STAMP)
	$(BIN)/phoenyra-ems demo -c examples/ems.yaml

$(DIST_STAMP):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(VENV_DIST)/bin/python || $(PYTHON) -m venv $(VENV_DIST)
	$(VENV_DIST)/bin/python -m pip install -q $(foreach p,$(DIST_PINS),"$(p)")
	@rm -f $(VENV_DIST)/.installed-*; touch $(DIST_STAMP)

## dist: dist/phoenyra_client-<v> wheel + sdist (the manifest's requirement) and dist/phoenyra.zip
dist: $(DIST_STAMP)
	$(VENV_DIST)/bin/python scripts/build_client.py --python $(VENV_DIST)/bin/python

# Home Assistant's venv holds no copy of this repository: only HA's harness and, like a real
# installation, the manifest's requirement installed by pip from what `make dist` built.
$(HA_STAMP):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(VENV_HA)/bin/python || $(PYTHON) -m venv $(VENV_HA)
	$(VENV_HA)/bin/python -m pip install -q --upgrade pip
	$(VENV_HA)/bin/python -m pip install -q "$(HA_PIN)"
	$(VENV_HA)/bin/python -m pip install -q $(foreach p,$(HA_EXTRAS),"$(p)")
	$(VENV_HA)/bin/python -m pip uninstall -q -y phoenyra-ems 2>/dev/null || true  # older venvs had -e .
	@rm -f $(VENV_HA)/.installed-*; touch $(HA_STAMP)

## test: lint, import contracts, types and every test suite (core, console, Home Assistant)
test: test-core test-ha

test-core: install broker postgres prism
	$(BIN)/ruff check phoenyra_ems tui custom_components tests tests_ha bench
	$(BIN)/ruff format --check phoenyra_ems tui custom_components tests tests_ha bench
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --deselect tests/tui/test_snapshots.py
	# the snapshots in a fresh process of their own: an earlier chart test in the same process can
	# leave plotext state that shifts an axis label by a row (order-dependent, seen under xdist)
	$(BIN)/pytest -q -p no:cacheprovider tests/tui/test_snapshots.py

## test-ha-install: install the integration as Home Assistant does (HACS copy + pip, release zip)
test-ha-install: install dist $(HA_STAMP)
	$(VENV_HA)/bin/python -m pip install -q --no-index --find-links dist --force-reinstall --no-deps "phoenyra-client==$(CLIENT_VERSION)"
	$(VENV_HA)/bin/pytest -q -p no:cacheprovider -c tests_ha/pytest.ini tests_ha/install

# test-ha-install leaves phoenyra-client $(CLIENT_VERSION) installed from dist/ (by HA's own pip).
# mypy runs from the HA venv: Home Assistant's own types (mypy.ini: strict for custom_components/).
test-ha: test-ha-install
	cd custom_components && ../$(VENV_HA)/bin/mypy --config-file ../tests_ha/mypy.ini phoenyra
	$(VENV_HA)/bin/pytest -q -p no:cacheprovider -c tests_ha/pytest.ini tests_ha --ignore=tests_ha/install \
	  --cov=custom_components/phoenyra --cov-config=tests_ha/coveragerc --cov-report=term-missing:skip-covered \
	  --cov-fail-under=95

lint: install
	$(BIN)/ruff check phoenyra_ems tui custom_components tests tests_ha bench
	$(BIN)/ruff format --check phoenyra_ems tui custom_components tests tests_ha bench

typecheck: install
	$(BIN)/mypy

## bench: print the performance figures
bench: install
	$(BIN)/python bench/control_loop.py

clean:
	rm -rf $(VENV) $(VENV_HA) $(VENV_DIST) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache data/demo .prism
