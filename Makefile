# Every target builds its own virtual environment first: a fresh machine needs only Python.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run scenarios test lint typecheck bench regressions mutants clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

# Three simulated Nomad 0.5.6 servers with their HTTP API (127.0.0.N:4646) until Ctrl-C.
run: $(STAMP)
	$(BIN)/raftsim serve

# Replay the scenario library in virtual time and print the transcripts.
scenarios: $(STAMP)
	$(BIN)/raftsim run scenarios/*.txt

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check raftsim tests bench
	$(BIN)/ruff format --check raftsim tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

# One shrunk scenario per deliberate core bug: the first failing seed of a campaign with the
# bug built in, shrunk, written as a transcript (tests/test_regressions.py replays them).
FAULTS := double-vote commit-previous-term no-truncate concurrent-config early-config \
  lease-not-rearmed commit-self-nonvoter keep-cut-config
regressions: $(STAMP)
	@for fault in $(FAULTS); do \
	  seed=$$($(BIN)/raftsim check --inject $$fault --seeds 200 --json 2>/dev/null \
	    | $(BIN)/python -c 'import json, sys; print(json.load(sys.stdin)["violations"][0]["seed"])'); \
	  $(BIN)/raftsim check --inject $$fault --replay $$seed --shrink \
	    --write tests/regressions/$$fault.txt || test -s tests/regressions/$$fault.txt; \
	done

# The mutation suite: a `raftsim check --inject FAULT` campaign against every deliberate core
# bug (raftsim/core/faults.py), one table row each: caught or not, by which rule, first seed
# (compared with raftsim/testing/mutants.json). A few minutes on one core; WORKERS=2 halves it.
WORKERS ?= 1
mutants: $(STAMP)
	$(BIN)/python -m raftsim.testing.mutants --workers $(WORKERS)

clean:
	rm -rf $(VENV) build *.egg-info
