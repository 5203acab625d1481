"""Shared fixtures: the real teacher and the real development data."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from mixvocab_tf import paths


@pytest.fixture(scope="session")
def data_dir():
    path = paths.shared_data_dir()
    if not os.path.isdir(path):
        pytest.fail(f"development data not found at {path}; set MIXVOCAB_DATA")
    return path


@pytest.fixture(scope="session")
def minilm_path():
    return paths.minilm_teacher_path()
