# Two commands on a fresh machine:
#   make reproduce   # the notebook series on the embedded Fashion-MNIST (PROFILE=quick)
#   make test        # unit tests + every notebook on the smoke profile
PROFILE ?= quick
ONLY ?=
SEEDS ?=
DEVICE ?= cpu
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: reproduce test data venv lab clean-cache

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The embedded default dataset: Debian's real Fashion-MNIST (needs root and apt; otherwise put
# the idx files into data/fashion-mnist/, see data/README.md).
data:
	@bash scripts/install_data.sh

reproduce: venv data
	$(PY) -m umalib reproduce --profile $(PROFILE) --device $(DEVICE) $(if $(ONLY),--only $(ONLY)) $(if $(SEEDS),--seeds $(SEEDS))

test: venv data
	$(PY) -m pytest -q

lab: venv
	$(VENV)/bin/jupyter lab notebooks/

clean-cache:
	rm -rf artifacts runs figures/smoke
