"""The 0.1 module paths: aliases of the new modules for one release, unused by the package."""

import importlib
import subprocess
import sys
import warnings

import pytest

from mixvocab_tf import _moved_modules


@pytest.mark.parametrize("old, new", [(o, n) for o, n in _moved_modules.MOVED_MODULES.items()
                                      if n is not None])
def test_an_old_path_is_the_new_module_and_warns(old, new):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__spec__.name == new  # the alias does not rename the module
    assert any(f"{old} has moved to {new}" in str(w.message) for w in caught)


def test_from_an_old_package_import_a_moved_module():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mixvocab_tf.distillation import losses  # noqa: PLC0415
    from mixvocab_tf.losses import distillation  # noqa: PLC0415

    assert losses is distillation


def test_no_module_of_the_package_imports_an_old_path():
    # A fresh interpreter: every module imported, a "has moved" warning is an error.
    code = (
        "import importlib, pkgutil, warnings\n"
        "warnings.filterwarnings('error', message='.*has moved to')\n"
        "import mixvocab_tf\n"
        "for m in pkgutil.walk_packages(mixvocab_tf.__path__, 'mixvocab_tf.'):\n"
        "    if m.name != 'mixvocab_tf._moved_modules':\n"
        "        importlib.import_module(m.name)\n"
        "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]


def test_no_script_or_test_imports_an_old_path():
    import os  # noqa: PLC0415
    import re  # noqa: PLC0415

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    old = [name for name in _moved_modules.MOVED_MODULES]
    pattern = re.compile(r"^\s*(?:from|import)\s+(" + "|".join(map(re.escape, old)) + r")\b"
                         r"|^\s*from\s+(mixvocab_tf(?:\.\w+)*)\s+import\s+(\w+)", re.MULTILINE)
    found = []
    for folder in ("mixvocab_tf", "tools", "benchmarks", "experiments", "tests"):
        for root, _, names in os.walk(os.path.join(repo, folder)):
            for name in names:
                path = os.path.join(root, name)
                if not name.endswith(".py") or name in ("_moved_modules.py",
                                                        "test_moved_modules.py"):
                    continue
                with open(path, encoding="utf-8") as f:
                    for match in pattern.finditer(f.read()):
                        module = match.group(1) or f"{match.group(2)}.{match.group(3)}"
                        if module in _moved_modules.MOVED_MODULES:
                            found.append(f"{os.path.relpath(path, repo)}: {module}")
    assert not found, found
