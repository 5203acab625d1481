"""Runs the absl binaries in tools/ as a user would: a fresh Python process each."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def run_tool():
    """`run_tool("learn_vocab", "--flag=value", ...)` -> the finished `CompletedProcess`."""

    def run(name, *args, timeout=600):
        env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
        return subprocess.run([sys.executable, os.path.join(REPO, "tools", f"{name}.py"), *args],
                              capture_output=True, text=True, env=env, timeout=timeout)

    return run
