# Set-up is part of every target: a fresh machine needs only python3 (3.11) and ../shared beside the repo.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= ../shared/data
RUN ?= runs/ct

.PHONY: test test-fast serve demo lint bench weights clean

TORCH ?= torch==2.14.1 torchvision==0.29.1

include Makefile.services

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	# torch + torchvision first, the pair on this machine's disk that works together (timm needs
	# torchvision); left to itself pip would download another multi-GB build. On a GPU machine set
	# TORCH to the CUDA build, e.g. make TORCH="torch torchvision --index-url https://download.pytorch.org/whl/cu128" test
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# ruff (lint and format check), mypy (the files of [tool.mypy] in pyproject.toml) and the import contracts
# (layers, no circles); make test runs it first
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP) system-deps lint
	$(BIN)/pytest -q

# the edit loop: everything except the tests marked slow (training runs, one-CLI-call-per-case modules)
test-fast: $(STAMP) system-deps lint
	$(BIN)/pytest -q -m "not slow"

# the web service on SQLite with the shipped weights: open the printed address, register, upload a scan
HOST ?= 127.0.0.1
PORT ?= 8000
serve: $(STAMP)
	$(BIN)/lungseg serve --host $(HOST) --port $(PORT) --data-dir lungseg-data

demo: $(STAMP)
	$(BIN)/lungseg train --data $(SHARED)/ct-lung-kmader --out $(RUN)
	$(BIN)/lungseg evaluate --model $(RUN)/best.pt --data $(SHARED)/ct-lung-kmader --split test --out $(RUN)/eval-test
	$(BIN)/lungseg report $(RUN) --eval $(RUN)/eval-test --out $(RUN)/report
	$(BIN)/lungseg predict $(SHARED)/ct-lung-kmader/images $(RUN)/predictions --model $(RUN)/best.pt --overlay
	$(BIN)/lungseg predict $(SHARED)/ct-volume-popi/dicom $(RUN)/popi --model ct-lung --overlay --report
	$(BIN)/lungseg predict $(SHARED)/xray-lung-montgomery/images $(RUN)/xray --overlay --report

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/train_ct.py
	$(BIN)/python benchmarks/inference.py
	$(BIN)/python benchmarks/train_speed.py

weights: $(STAMP)
	$(BIN)/python tools/release_weights.py

clean:
	rm -rf $(VENV) runs
