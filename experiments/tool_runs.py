"""Runs the repository's tools for the experiment scripts, as a user would: a fresh process
from the repository root, its output appended to a log, its CPU seconds returned, and a failure
raised with the log's tail (so a background curve says why it stopped)."""

import os
import resource
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_tool(command, log_path):
    """Runs `command` (`[python, "tools/<tool>.py", flags...]`) from the repository root.

    Returns:
      The CPU seconds the process and its children spent.

    Raises:
      RuntimeError: with the log's last 2,000 characters, when the tool fails.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code:
        with open(log_path, encoding="utf-8") as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f"{command[1]} failed ({code}); {log_path} ends:\n{tail}")
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
