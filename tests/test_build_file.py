"""BUILD stays in sync with the tree: every tool, benchmark and test file has a target."""

import glob
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _targets():
    with open(os.path.join(REPO, "BUILD"), encoding="utf-8") as f:
        text = f.read()
    targets = {}
    for match in re.finditer(r"(py_\w+)\(\s*(.*?)\n\)", text, re.S):
        kind, body = match.groups()
        name = re.search(r'name\s*=\s*"([^"]+)"', body).group(1)
        srcs = re.findall(r'"([^"]+\.py)"', body)
        targets[name] = (kind, srcs)
    return targets


def _sources(kind):
    return {src for k, srcs in _targets().values() if k == kind for src in srcs}


def _files(pattern):
    return {os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, pattern), recursive=True)}


def test_every_tool_and_benchmark_has_a_py_binary():
    binaries = _sources("py_binary")
    missing = sorted((_files("tools/*.py") | _files("benchmarks/*.py")
                      | _files("experiments/*.py") | _files("experiments/*/run.py")) - binaries)
    assert not missing, f"add py_binary targets to BUILD for {missing}"


def test_every_test_file_has_a_py_test():
    tests = _sources("py_test")
    missing = sorted(_files("tests/**/test_*.py") - tests)
    assert not missing, f"add py_test targets to BUILD for {missing}"


def test_every_target_source_exists_and_names_are_unique():
    text = open(os.path.join(REPO, "BUILD"), encoding="utf-8").read()
    names = re.findall(r'name\s*=\s*"([^"]+)"', text)
    assert len(names) == len(set(names))
    for _, srcs in _targets().values():
        for src in srcs:
            if "*" not in src:
                assert os.path.exists(os.path.join(REPO, src)), f"BUILD names a missing file {src}"


def test_generate_build_reproduces_the_committed_build(load_script):
    generator = load_script("tools/generate_build.py")
    with open(os.path.join(REPO, "BUILD"), encoding="utf-8") as f:
        committed = f.read()
    assert generator.build_text() == committed, "run `python tools/generate_build.py`"
