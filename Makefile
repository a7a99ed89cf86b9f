# e2edl — every target creates .venv from requirements.lock first if it is missing or stale.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-from-lock

# A local mirror of the course's data sets; set E2EDL_MIRROR to use another.
ifneq ($(wildcard ../shared/data),)
export E2EDL_MIRROR ?= $(abspath ../shared/data)
endif

# Tests and CI run offline, without progress bars.
TEST_ENV := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline RAY_USAGE_STATS_ENABLED=0 E2EDL_PROGRESS=0

.PHONY: demo test verify readme notebooks bench lint venv clean

venv: $(STAMP)

$(STAMP): requirements.lock requirements-nodeps.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

demo: $(STAMP)   ## every lesson in quick mode; prints where the report is
	$(BIN)/e2edl course --quick --out runs/demo

test: $(STAMP)   ## the whole test suite (what CI runs)
	$(TEST_ENV) $(BIN)/python -m pytest -q --durations=25

verify: $(STAMP)   ## every lesson in full mode, checking the full claims
	$(BIN)/e2edl course --out runs/full

readme: $(STAMP)   ## full run on the reference machine (timing claims count), then the README's table and results/full.json
	$(BIN)/e2edl course --out runs/full --strict-timing --readme README.md

notebooks: $(STAMP)   ## regenerate notebooks/ from lessons/
	$(BIN)/python tools/notebooks.py build

bench: $(STAMP)   ## timed comparisons (printed, never asserted)
	@set -e; for script in benchmarks/*.py; do [ -e "$$script" ] || continue; echo "== $$script"; $(BIN)/python "$$script"; done

lint: $(STAMP)
	$(BIN)/ruff check src tests tools benchmarks lessons
	$(BIN)/ruff format --check src tests tools benchmarks lessons

clean:
	rm -rf runs build .pytest_cache .hypothesis

.PHONY: book
book: $(STAMP)   ## the course website, from the notebooks the tests executed (runs/executed-notebooks); prints the path of index.html
	$(BIN)/python tools/book.py build --notebooks runs/executed-notebooks
