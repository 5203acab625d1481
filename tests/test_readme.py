"""Every command of README.md and android_demo/README.md runs as written, at tiny sizes.

The fenced `sh`, `bash` and `python` blocks are read from the READMEs (never copied here)
and run in order, each as one process, in a scratch copy of the repository (symlinks to
its files; `runs/` and the Android assets are the scratch copy's own), with `../shared/data`
beside it as in a checkout. The READMEs name their sizes and data as variables with the
full-size defaults (README.md, "Every command in this README runs as written"); this test
sets them tiny (`TINY`): a random 2x16 teacher, a small corpus, a 300-utterance SNIPS, a
2x32 student, 2 steps.

Blocks not run are listed in `SKIPPED` with the reason; a block that is neither run nor
listed, or a listed one that no longer exists, fails the test. `make demo` is skipped, so
what blocks read of its output (`runs/demo/tflite_ids`) is a stand-in built from this run's
tiny SNIPS model.
"""

import glob
import json
import os
import re
import resource
import shutil
import subprocess
import time

import pytest


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ("README.md", "android_demo/README.md")
# Fenced block languages that are commands, and what runs them.
RUNNERS = {"sh": ["bash", "-euo", "pipefail"], "bash": ["bash", "-euo", "pipefail"],
           "python": [".venv/bin/python"]}
# Blocks not run, by their first command line, and why.
SKIPPED = {
    "make demo": "the whole pipeline on the shipped data (about 15 minutes; and `make test` "
                 "would recurse); tests/test_pipeline.py runs the pipeline at tiny sizes",
    ".venv/bin/python tools/run_pipeline.py": "the whole pipeline, as `make demo`",
}
# Skipped only when the environment they need is missing (it is built by `make setup`).
NEEDS = {"make setup-mediapipe": ".venv-mediapipe/.installed"}
# The READMEs' variables at test sizes (TEACHER, CORPUS and DATA are filled in by `scratch`).
TINY = {"STEPS": "2", "BATCH": "4", "L": "32", "STUDENT": "2x32", "VOCAB_SIZE": "400"}
# `make demo`'s folders that README blocks read (stand-ins: `_make_demo_stand_ins`).
DEMO_STAND_INS = ("runs/demo/tflite_ids",)
BLOCK = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def read_blocks(doc):
    """`(language, code, line)` of each fenced block of `doc` (a path under the repo)."""
    with open(os.path.join(REPO, doc), encoding="utf-8") as f:
        text = f.read()
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
            for m in BLOCK.finditer(text)]


def first_command(code):
    for line in code.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return ""


def command_blocks():
    """Every runnable block: `(doc, line, language, code)`, in reading order."""
    return [(doc, line, language, code) for doc in DOCS
            for language, code, line in read_blocks(doc) if language in RUNNERS]


def skip_reason(code):
    command = first_command(code)
    for prefix, reason in SKIPPED.items():
        if command.startswith(prefix):
            return reason
    for prefix, needed in NEEDS.items():
        if prefix in code and not os.path.exists(os.path.join(REPO, needed)):
            return f"{needed} is missing (`make setup` builds it)"
    return None


def test_every_skip_entry_matches_a_block_and_every_variable_is_used():
    blocks = command_blocks()
    assert len(blocks) >= 5, "the READMEs lost their command blocks?"
    for prefix in SKIPPED:
        assert any(first_command(code).startswith(prefix) for *_, code in blocks), (
            f"SKIPPED names {prefix!r}, which no README block starts with: remove it.")
    # A renamed variable would silently run that block at full size.
    text = "".join(code for *_, code in blocks)
    for name in [*TINY, "TEACHER", "CORPUS", "DATA"]:
        assert re.search(rf"\${{{name}:-|env\(\"{name}\"", text), (
            f"no README block reads ${name}; update TINY (tests/test_readme.py) and the README "
            "paragraph that names the variables.")


def _tiny_inputs(root, data_dir):
    """A small corpus (every 25th line of the shipped one) and SNIPS (300 / 100 utterances)."""
    corpus = os.path.join(root, "corpus")
    os.makedirs(corpus)
    for path in sorted(glob.glob(os.path.join(REPO, "data", "corpus", "*.txt"))):
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()[::25]
        with open(os.path.join(corpus, os.path.basename(path)), "w", encoding="utf-8") as f:
            f.writelines(lines)
    for split, count in (("train", 300), ("valid", 100)):
        source = os.path.join(data_dir, "tasks", "snips", split)
        target = os.path.join(root, "data", "tasks", "snips", split)
        os.makedirs(target)
        for name in os.listdir(source):
            with open(os.path.join(source, name), encoding="utf-8") as f:
                lines = f.readlines()
            step = max(len(lines) // count, 1)  # spread over the file: every intent
            with open(os.path.join(target, name), "w", encoding="utf-8") as f:
                f.writelines(lines[::step][:count])
    return os.path.join(corpus, "*.txt"), os.path.join(root, "data")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, data_dir, tiny_stage_inputs):
    """`(repo copy, env)`: the repository as symlinks, ../shared/data, tiny variables."""
    root = str(tmp_path_factory.mktemp("readme"))
    repo = os.path.join(root, "repo")
    os.makedirs(repo)
    for name in os.listdir(REPO):
        if name in ("runs", ".git", ".pytest_cache"):
            continue
        if name == "android_demo":  # its block copies the model into app/src/main/assets/
            shutil.copytree(os.path.join(REPO, name), os.path.join(repo, name), symlinks=True)
        else:
            os.symlink(os.path.join(REPO, name), os.path.join(repo, name))
    os.makedirs(os.path.join(root, "shared"))
    os.symlink(os.path.abspath(data_dir), os.path.join(root, "shared", "data"))
    corpus, data = _tiny_inputs(os.path.join(root, "inputs"), data_dir)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TEACHER=tiny_stage_inputs["teacher_dir"],
               CORPUS=corpus, DATA=data, **TINY)
    return repo, env


def _make_demo_stand_ins(repo, env):
    """What blocks read of `make demo`'s output: its ids-form export (`tflite_ids/`), here
    exported from the README's tiny `runs/snips` as the pipeline does."""
    if not os.path.isdir(os.path.join(repo, "runs", "demo", "tflite_ids")):
        subprocess.run([".venv/bin/python", "tools/export_tflite.py", "--model_dir=runs/snips",
                        "--input=ids", f"--sequence_length={TINY['L']}", "--latency_runs=0",
                        "--output_dir=runs/demo/tflite_ids"],
                       cwd=repo, env=env, check=True, capture_output=True, timeout=600)


def _tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


def test_every_readme_command_runs_as_written(scratch):
    repo, env = scratch
    ran, skipped, seconds, logs = [], [], {}, []
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    for number, (doc, line, language, code) in enumerate(command_blocks()):
        where = f"{doc}:{line}"
        reason = skip_reason(code)
        if reason:
            skipped.append(f"{where} ({first_command(code)}): {reason}")
            continue
        if any(path in code for path in DEMO_STAND_INS):
            _make_demo_stand_ins(repo, env)
        command = list(RUNNERS[language])
        if language == "python":
            script = os.path.join(repo, f".readme_block_{number}.py")
            with open(script, "w", encoding="utf-8") as f:
                f.write(code)
            command.append(script)
        else:
            command += ["-c", code]
        started = time.time()
        result = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True,
                                timeout=600)
        seconds[where] = round(time.time() - started, 1)
        print(f"{where}: {seconds[where]} s", flush=True)
        assert result.returncode == 0, (
            f"{where}: the {language} block starting `{first_command(code)}` failed "
            f"(exit {result.returncode}).\n--- stdout\n{_tail(result.stdout)}\n"
            f"--- stderr\n{_tail(result.stderr)}")
        ran.append(where)
        logs.append(result.stderr)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    print(f"ran {seconds} ({cpu:.0f} CPU s in all); skipped: {skipped}")
    # The stage outputs the blocks promise, the Stage II run-folder case included.
    for path in ("runs/vocab.txt", "runs/stage1/export/teacher.keras",
                 "runs/stage2/export/student.keras", "runs/snips/task_config.json",
                 "runs/snips_tflite/model.tflite", "runs/student.keras"):
        assert os.path.exists(os.path.join(repo, path)), path
    for config in ("runs/stage1/export/stage1_config.json", "runs/stage2/export/config.json"):
        with open(os.path.join(repo, config)) as f:  # STEPS reached the runs, and no more
            assert json.load(f)["train_steps"] == int(TINY["STEPS"]), config
    # `tools/finetune.py --model=runs/stage2` read the Stage II run folder's model, and said so.
    assert ("--model runs/stage2: reading the Stage II student in runs/stage2/export "
            "(the run folder's export/)") in "".join(logs)
    # Skips are the listed whole-pipeline runs only (three blocks today), never a user's
    # command: a new SKIPPED prefix that swallows more blocks fails here.
    assert len(skipped) <= 3 and len(ran) >= 4, (ran, skipped)
