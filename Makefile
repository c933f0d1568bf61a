# fastkd: the README's two commands (`make demo`, `make test`) and the tools behind them.
# Both start from a fresh clone: they create .venv and install fastkd with its dev extra when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= digits
FASHION_MNIST ?= /usr/share/datasets/fashion-mnist
# Parallel notebooks on few cores slow each other badly when torch spreads over all of them
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: install demo test nbtest pytest test-slow bench bench-quick readme export clean-nbs data data-optional docs browser

$(VENV)/.installed: pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

demo: install $(if $(filter fashion-mnist,$(DATA)),data)
	$(BIN)/python -m fastkd.demo --data $(DATA)

test: install data-optional browser nbtest pytest

nbtest: install
	$(TEST_ENV) $(BIN)/nbdev-test --n-workers 2

pytest: install
	$(TEST_ENV) $(BIN)/python -m pytest tests -q

# Nightly/benchmark target: also the cells marked `#| slow` (the tutorial's training runs)
test-slow: install data
	$(TEST_ENV) $(BIN)/nbdev-test --n-workers 2 --flags slow

# Benchmarks (docs page nbs/tutorials/benchmarks.ipynb, which reads the JSON files they write next to it), one thread
# each as on that page; fasterai comes with the bench extra
BENCH_OUT := nbs/tutorials
$(VENV)/.bench: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	@touch $@

bench: $(VENV)/.bench data
	$(TEST_ENV) $(BIN)/python bench/overhead.py --out $(BENCH_OUT)/benchmark_overhead.json
	$(TEST_ENV) $(BIN)/python bench/accuracy.py --out $(BENCH_OUT)/benchmark_accuracy.json
	$(TEST_ENV) $(BIN)/python bench/sweep.py --out $(BENCH_OUT)/benchmark_sweep.json
	$(TEST_ENV) $(BIN)/python bench/accuracy.py --patient --out $(BENCH_OUT)/benchmark_patient.json
	$(TEST_ENV) $(BIN)/python bench/accuracy.py --patient --checks --out $(BENCH_OUT)/benchmark_patient_checks.json
	$(TEST_ENV) $(BIN)/python bench/methods.py --out $(BENCH_OUT)/benchmark_methods.json
	$(TEST_ENV) $(BIN)/python bench/tasks.py --out $(BENCH_OUT)/benchmark_tasks.json
	$(TEST_ENV) $(BIN)/python bench/quantize.py --out $(BENCH_OUT)/benchmark_quantize.json
	$(TEST_ENV) $(BIN)/python bench/store.py --all --out $(BENCH_OUT)/benchmark_store.json

bench-quick: $(VENV)/.bench data
	$(TEST_ENV) $(BIN)/python bench/overhead.py --quick
	$(TEST_ENV) $(BIN)/python bench/accuracy.py --quick
	$(TEST_ENV) $(BIN)/python bench/methods.py --quick
	$(TEST_ENV) $(BIN)/python bench/tasks.py --quick
	$(TEST_ENV) $(BIN)/python bench/quantize.py --quick
	$(TEST_ENV) $(BIN)/python bench/store.py --all --quick

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

# The docs site, offline, into _site/: nbdev's notebook processing, then MkDocs (tools/docs.py, mkdocs.yml).
# Where quarto is installed, `$(BIN)/nbdev-docs` builds nbdev's own site from the same notebooks into _docs/.
docs: install
	$(TEST_ENV) $(BIN)/python tools/docs.py

# Headless Chromium for tests/test_docs.py, from Debian's chromium package; without it that test fails and says why
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; \
	else echo "note: /usr/bin/chromium is missing and cannot be installed here (needs root and apt-get): on Debian/Ubuntu" \
	  "run sudo apt-get install chromium, elsewhere set CHROMIUM=/path/to/chromium for tests/test_docs.py" >&2; fi
