# fastkd: the README's two commands (`make demo`, `make test`) and the tools behind them.
# Both start from a fresh clone: they create .venv and install fastkd with its dev extra when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= digits
FASHION_MNIST ?= /usr/share/datasets/fashion-mnist
# Parallel notebooks on few cores slow each other badly when torch spreads over all of them
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: install demo test nbtest pytest readme export clean-nbs data data-optional

$(VENV)/.installed: pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

demo: install $(if $(filter fashion-mnist,$(DATA)),data)
	$(BIN)/python -m fastkd.demo --data $(DATA)

test: install data-optional nbtest pytest

nbtest: install
	$(TEST_ENV) $(BIN)/nbdev-test --n-workers 2

pytest: install
	$(TEST_ENV) $(BIN)/python -m pytest tests -q

readme: install
	$(BIN)/python tools/readme.py

export: install
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean

# Fashion-MNIST from Debian's dataset-fashion-mnist package (idx files under $(FASHION_MNIST))
data:
	@if [ -f $(FASHION_MNIST)/train-images-idx3-ubyte.gz ]; then echo "Fashion-MNIST found in $(FASHION_MNIST)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y -q dataset-fashion-mnist || { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }; \
	else echo "Fashion-MNIST is missing from $(FASHION_MNIST). On Debian/Ubuntu run: sudo apt-get install dataset-fashion-mnist." \
	  "Elsewhere put the four *-ubyte.gz files of the Fashion-MNIST release in a folder and pass path=... to fashion_mnist_dls." >&2; \
	  exit 1; fi

# The tests use Fashion-MNIST when it can be installed, and say so when it cannot
data-optional:
	@$(MAKE) --no-print-directory data || echo "note: Fashion-MNIST checks are skipped on this machine"
