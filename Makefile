# labkit — the commands the README names. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.labkit-installed
IPYWIDGETS7 := $(VENV)/compat/ipywidgets7
COLAB_PINS  := $(lastword $(sort $(wildcard tests/data/colab-pins-*.txt)))
MODE   ?=
LABS   ?=
JOBS   ?= 2
SUBMISSIONS ?= submissions

.PHONY: help install browser sandbox hub-proxy run book test test-gpu lab release grade hub clean

help:
	@echo "make run    execute every lab (MODE=auto|smoke|full, LABS='01 02'); report in build/"
	@echo "make book   the course site in build/book/ from the labs of the last make run (runs missing ones)"
	@echo "make test   the whole test suite (unit, notebooks via papermill and nbval)"
	@echo "make test-gpu  the CUDA test layer (tests/gpu) on a GPU machine; installs nothing"
	@echo "make lab    open JupyterLab on notebooks/"
	@echo "make release  student editions of every lab in release/ (checked: no solutions, tests fail blank)"
	@echo "make grade SUBMISSIONS=dir [JOBS=2]  autograde dir/<student>/<lab>.ipynb into grading/"
	@echo "make hub    a demo class on a local JupyterHub (127.0.0.1, dummy logins, LABS='00 01'); Ctrl-C stops it"
	@echo "make install  create $(VENV) and install labkit with its dev extras (run/test do this)"

# Reinstalls only when pyproject.toml (or the recorded Colab pins) changes; otherwise instant.
install: $(STAMP) $(IPYWIDGETS7)/.installed

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	-@$(MAKE) --no-print-directory browser
	-@$(MAKE) --no-print-directory sandbox
	-@$(MAKE) --no-print-directory hub-proxy
	touch $(STAMP)

# Colab's ipywidgets 7 beside the environment, not in it (--no-deps: nothing in $(VENV) changes):
# tests/test_colab.py runs the widget tests with it first on PYTHONPATH.
$(IPYWIDGETS7)/.installed: $(COLAB_PINS) | $(STAMP)
	rm -rf $(IPYWIDGETS7)
	$(BIN)/python -m pip install --quiet --no-deps --target $(IPYWIDGETS7) -c $(COLAB_PINS) 'ipywidgets>=7.7,<8' ipython_genutils
	touch $@

# The real-browser test drives Debian's chromium through playwright (never a downloaded browser).
# Best effort: where it cannot be installed (not root, no apt) that test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; }; } || \
	  echo "chromium could not be installed: the browser test will skip (apt-get install chromium)"

# `labkit grade` runs each submission's kernel in bubblewrap (Debian's bubblewrap). Best effort, as
# for chromium: where it cannot be installed, grading says it is not isolated and the sandbox tests skip.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null; }; }; } || \
	  echo "bubblewrap could not be installed: labkit grade will run submissions unisolated (apt-get install bubblewrap)"

# JupyterHub's proxy for `make hub` and tests/test_hub.py: configurable-http-proxy from npm, into
# $(VENV)/node (never a global install). Best effort, as for chromium: without npm the hub test skips
# and says how to install it.
CHP := $(VENV)/node/node_modules/.bin/configurable-http-proxy
hub-proxy:
	@test -x $(CHP) || { command -v npm >/dev/null 2>&1 && \
	  npm install --silent --no-fund --no-audit --prefix $(VENV)/node configurable-http-proxy@5 >/dev/null 2>&1; } || \
	  echo "configurable-http-proxy could not be installed: make hub and the hub test need it (npm install --prefix $(VENV)/node configurable-http-proxy)"

run: install
	$(BIN)/labkit run $(if $(MODE),--mode $(MODE)) $(LABS)

# The course site from the executed labs in build/ (labs missing there run first, in MODE).
book: install
	$(BIN)/labkit book $(if $(MODE),--mode $(MODE))

# Two pytest workers, whole test files each (a module's fixtures are built once); one thread per
# worker (and per notebook kernel it starts) so the two never oversubscribe the cores.
TEST_JOBS ?= 2
test: install
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile

# The CUDA layer alone (skipped without a GPU). It installs nothing, since a GPU machine may have no
# package index: .venv's Python when there is one, else $(PYTHON) with this checkout on PYTHONPATH.
GPU_PYTHON := $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
test-gpu:
	PYTHONPATH="$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH}" $(GPU_PYTHON) -m pytest -p no:cacheprovider -o addopts= -q tests/gpu

release: install
	$(BIN)/labkit release $(LABS)

grade: install
	$(BIN)/labkit grade $(SUBMISSIONS) --jobs $(JOBS)

# A demo class on 127.0.0.1 for an instructor to try the whole cycle: JupyterHub with dummy logins,
# the labs released through nbgrader's exchange in build/hub/. Ctrl-C stops every process it started.
hub: install hub-proxy
	$(BIN)/labkit hub $(LABS)

lab: install
	LABKIT_OUTPUT_DIR="$(CURDIR)/build/outputs" $(BIN)/jupyter lab notebooks/

clean:
	rm -rf build .pytest_cache
