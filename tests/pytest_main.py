"""Entry point for Bazel's py_test targets: runs pytest on the given test file."""

import sys

import pytest

if __name__ == "__main__":
    sys.exit(pytest.main(["-m", "not slow", *sys.argv[1:]]))
