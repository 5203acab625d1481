"""Every command of the user documents runs as written, at tiny sizes.

The fenced `sh`, `bash` and `python` blocks of the documents in `DOCS` (the README, the
pipeline and export guides, the Android demo's README, the benchmarks' README and the shipped
students' model cards) are read from them (never copied here) and run in that order, each as one
process, in a scratch copy of the repository (symlinks to its files; `runs/` and the Android
assets are the scratch copy's own), with `../shared/data` beside it as in a checkout. A later
document's blocks may read what an earlier one's wrote (docs/EXPORT.md exports the `runs/snips`
of docs/PIPELINE.md). The documents name their sizes and data as variables with the full-size
defaults (docs/PIPELINE.md, "Every command here runs as written"); this test sets them tiny
(`TINY`): a random 2x16 teacher, a small corpus, a 300-utterance SNIPS, a 2x32 student, 2 steps.

Blocks not run are listed in `SKIPPED` with the reason; a listed one that no longer exists fails
the test. Commands that must not run (recipes of hours) sit in unlabelled fences. So that no
command block goes unnoticed, every fenced block of every Markdown file of the repository must
be labelled with a runner's language (and then its file must be in `DOCS`) or be one of
`NOT_COMMANDS` (a ```shell or ```console block would otherwise never run). `make demo` is
skipped, so what blocks read of its output (`runs/demo/tflite_ids`) is a stand-in built from
this run's tiny SNIPS model.
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
# The documents whose command blocks run, in this order (later ones read earlier outputs).
DOCS = ("README.md", "docs/PIPELINE.md", "docs/EXPORT.md", "android_demo/README.md",
        "benchmarks/README.md", "pretrained/6x128/MODEL_CARD.md",
        "pretrained/12x128/MODEL_CARD.md", "pretrained/4x192/MODEL_CARD.md",
        "pretrained/4x160/MODEL_CARD.md")
# Fenced block languages that are commands, and what runs them.
RUNNERS = {"sh": ["bash", "-euo", "pipefail"], "bash": ["bash", "-euo", "pipefail"],
           "python": [".venv/bin/python"]}
# Fenced block languages that are not commands ("": a layout, or a command not to run).
NOT_COMMANDS = ("", "text", "java", "json")
# Folders of the repository that hold no documents of ours.
NOT_DOCUMENTS = ("runs", "build", "node_modules", "__pycache__")
# Blocks not run, by their first command line, and why.
SKIPPED = {
    "make demo": "the whole pipeline on the shipped data (about 15 minutes; and `make test` "
                 "would recurse); tests/test_pipeline.py runs the pipeline at tiny sizes",
    ".venv/bin/python tools/run_pipeline.py": "the whole pipeline, as `make demo`",
}
# Skipped only when the environment they need is missing (it is built by `make setup`).
NEEDS = {"make setup-mediapipe": ".venv-mediapipe/.installed"}
# The documents' variables at test sizes (TEACHER, CORPUS and DATA are filled in by `scratch`).
TINY = {"STEPS": "2", "BATCH": "4", "L": "32", "STUDENT": "2x32", "VOCAB_SIZE": "400"}
# `make demo`'s folders that document blocks read (stand-ins: `_make_demo_stand_ins`).
DEMO_STAND_INS = ("runs/demo/tflite_ids",)
# A fenced block: its info string's first word is the language (any characters: "sh-session"
# must not slip through as a non-match).
BLOCK = re.compile(r"^```[ \t]*(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def read_blocks(doc):
    """`(language, code, line)` of each fenced block of `doc` (a path under the repo)."""
    with open(os.path.join(REPO, doc), encoding="utf-8") as f:
        text = f.read()
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
            for m in BLOCK.finditer(text)]


def markdown_files():
    """Every Markdown file of the repository (relative paths), hidden folders and runs aside."""
    found = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in NOT_DOCUMENTS
                         and not d.endswith(".egg-info"))
        found += [os.path.relpath(os.path.join(root, name), REPO)
                  for name in sorted(files) if name.endswith(".md")]
    return found


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


def test_every_command_block_of_the_repository_runs_here():
    """A command block outside `DOCS`, or under a language no runner knows, would never run."""
    documents = markdown_files()
    assert "README.md" in documents and "docs/PIPELINE.md" in documents, documents
    for doc in DOCS:
        assert doc in documents, f"DOCS names {doc}, which does not exist: remove it."
    for doc in documents:
        for language, code, line in read_blocks(doc):
            where = f"{doc}:{line} (```{language}, `{first_command(code)}`)"
            assert language in RUNNERS or language in NOT_COMMANDS, (
                f"{where}: label a command block `sh`, `bash` or `python` so that "
                "tests/test_readme.py runs it, or leave it unlabelled if it must not run.")
            assert language not in RUNNERS or doc in DOCS, (
                f"{where}: a command block in a document this test does not read: add the "
                "document to DOCS (tests/test_readme.py), or unlabel the block.")


def test_every_skip_entry_matches_a_block_and_every_variable_is_used():
    blocks = command_blocks()
    assert len(blocks) >= 8, "the documents lost their command blocks?"
    for prefix in SKIPPED:
        assert any(first_command(code).startswith(prefix) for *_, code in blocks), (
            f"SKIPPED names {prefix!r}, which no document's block starts with: remove it.")
    # A renamed variable would silently run that block at full size.
    text = "".join(code for *_, code in blocks)
    for name in [*TINY, "TEACHER", "CORPUS", "DATA"]:
        assert re.search(rf"\${{{name}:-|env\(\"{name}\"|environ\.get\(\"{name}\"", text), (
            f"no document's block reads ${name}; update TINY (tests/test_readme.py) and the "
            "paragraph of docs/PIPELINE.md that names the variables.")


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
    exported from docs/PIPELINE.md's tiny `runs/snips` as the pipeline does."""
    if not os.path.isdir(os.path.join(repo, "runs", "demo", "tflite_ids")):
        subprocess.run([".venv/bin/python", "tools/export_tflite.py", "--model_dir=runs/snips",
                        "--input=ids", f"--sequence_length={TINY['L']}", "--latency_runs=0",
                        "--output_dir=runs/demo/tflite_ids"],
                       cwd=repo, env=env, check=True, capture_output=True, timeout=600)


def _tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


def _read_json(repo, path):
    with open(os.path.join(repo, path), encoding="utf-8") as f:
        return json.load(f)


def test_every_documented_command_runs_as_written(scratch):
    repo, env = scratch
    ran, skipped, unbuilt, seconds, logs = [], [], [], {}, []
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    for number, (doc, line, language, code) in enumerate(command_blocks()):
        where = f"{doc}:{line}"
        reason = skip_reason(code)
        if reason:
            listed = any(first_command(code).startswith(prefix) for prefix in SKIPPED)
            (skipped if listed else unbuilt).append(f"{where} ({first_command(code)}): {reason}")
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
        logs.append(result.stdout + result.stderr)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    print(f"ran {seconds} ({cpu:.0f} CPU s in all); skipped: {skipped + unbuilt}")
    # What the blocks promise. docs/PIPELINE.md: the stages, the Keras-code student and task
    # distillation from a fine-tuned teacher; README.md: the shipped student fine-tuned and
    # exported from Python; docs/EXPORT.md: the ids form.
    for path in ("runs/vocab.txt", "runs/stage1/export/teacher.keras",
                 "runs/stage2/export/student.keras", "runs/snips/task_config.json",
                 "runs/snips_tflite/model.tflite", "runs/student.keras",
                 "runs/snips_teacher/task_config.json", "runs/snips_kd/task_config.json",
                 "runs/my_snips/task_config.json", "runs/my_snips_int8/model.tflite",
                 "runs/snips_ids/model.tflite"):
        assert os.path.exists(os.path.join(repo, path)), path
    for config in ("runs/stage1/export/stage1_config.json", "runs/stage2/export/config.json"):
        # STEPS reached the runs, and no more
        assert _read_json(repo, config)["train_steps"] == int(TINY["STEPS"]), config
    # `tools/finetune.py --model=runs/stage2` read the Stage II run folder's model, and said so.
    assert ("--model runs/stage2: reading the Stage II student in runs/stage2/export "
            "(the run folder's export/)") in "".join(logs)
    # The distilled student learned from the fine-tuned teacher, on word-replaced variants too.
    distillation = _read_json(repo, "runs/snips_kd/task_config.json")["distillation"]
    assert distillation["teacher_dir"].endswith("snips_teacher"), distillation["teacher_dir"]
    examples = distillation["transfer_examples"]
    assert 0 < examples["augmented"] <= examples["labelled"], examples
    # The Python example scored its int8 export on the eval split; the ids form takes ids.
    report = _read_json(repo, "runs/my_snips_int8/export_report.json")
    assert report["task"] == "snips" and 0 <= report["accuracy"]["tflite"] <= 1, report["task"]
    assert _read_json(repo, "runs/snips_ids/export_report.json")["input_form"] == "ids"
    # Every guide ran commands, not only skips.
    ran_in = {where.rsplit(":", 1)[0] for where in ran}
    assert {"README.md", "docs/PIPELINE.md", "docs/EXPORT.md"} <= ran_in, ran_in
    # Skips are the listed whole-pipeline runs only (three blocks today), never a user's
    # command: a new SKIPPED prefix that swallows more blocks fails here.
    assert len(skipped) <= 3 and len(ran) >= 8, (ran, skipped)
