# The two commands a new user needs: `make demo` and `make test`. Both create .venv from
# pyproject.toml on first use; nothing else needs to be installed beforehand but Python.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
RUNTIME := $(VENV)/.runtime-stamp
DEMO   ?= demo
WORKSHOP := recent_deletes recent_user_deletes source_ip_activity recent_metadata_updates \
            encryption_status_summary prefix_delete_volume

.PHONY: install demo test bench bench-big lint clean

install: $(STAMP)

# The test install (moto, pyiceberg, Jupyter's kernel, matplotlib, ...) also satisfies the runtime one.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP) $(RUNTIME)

# `make demo` needs the runtime only: most of a first install's time went to test-only packages.
$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $(RUNTIME)

$(DEMO)/manifest.json: | $(RUNTIME)
	$(BIN)/s3meta fixtures generate --out $(DEMO) --rows 200000 --days 14

demo: $(RUNTIME) $(DEMO)/manifest.json
	@for q in $(WORKSHOP); do \
	  echo; echo "== $$q"; \
	  $(BIN)/s3meta query $$q --data $(DEMO) --format table --max-rows 15 --stats --no-pager || exit $$?; \
	done
	@echo; $(BIN)/s3meta fixtures incidents $(DEMO)
	@echo; echo "(s3meta is $(BIN)/s3meta: '. $(BIN)/activate' puts it on your PATH)"

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Speed is checked here, not by timed tests: each figure is a ratio against a baseline measured in
# the same run (raw DuckDB on the same files), since these machines are noisy.
bench: $(STAMP)
	$(BIN)/python bench/run.py --rows 1000000
	$(BIN)/python bench/bench_generator.py --rows 1000000 --repeat 3
	$(BIN)/python bench/bench_report.py --rows 10000000 --data bench/out/report-10m --repeat 3
	$(BIN)/python bench/bench_answers.py --rows 3000000 --repeat 3
	$(BIN)/python bench/stress_exit.py --runs 500

# 50M journal rows: generating them takes minutes, so this size is opt-in.
bench-big: $(STAMP)
	$(BIN)/python bench/bench_big.py --rows 50000000

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff==0.17.6
	$(BIN)/python -m ruff check analytics tests bench

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info
