"""experiments/reproduce/run.py on a tiny setting: a random 2-layer teacher, a 1x32 student,
SNIPS."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "experiments", "reproduce", "run.py")


def _run(tiny_stage_inputs, output_dir, *args):
    command = [
        sys.executable, SCRIPT, f"--output_dir={output_dir}",
        f"--teacher={tiny_stage_inputs['teacher_dir']}",
        f"--train_files={tiny_stage_inputs['train_file']}", "--eval_lines=100",
        "--vocab_size=300", "--vocab_max_lines=3000", "--stage1_new_parameter_steps=2",
        "--stage1_steps=2", "--stage2_steps=2", "--batch_size=4", "--sequence_length=32",
        "--eval_steps=2", "--evals_per_stage=2", "--student_size=1x32", "--tasks=snips",
        "--finetune_epochs=1", "--max_train_examples=64", "--max_eval_examples=64", *args]
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def _check_task_row(row):
    assert row["task"] == "snips" and row["split"] == "valid" and row["examples"] == 64
    assert 0.0 <= row["float"] <= 1.0 and 0.0 <= row["int8"] <= 1.0
    assert row["int8_size_mb"] > 0 and row["train_examples"] == 64
    assert set(row["cpu_s"]) == {"finetune", "export"}


@pytest.mark.slow
def test_random_floor_report_rerun_skips_and_refuses_changes(tiny_stage_inputs, tmp_path):
    out = tmp_path / "reproduce"
    _run(tiny_stage_inputs, out, "--variants=random")
    report = json.loads((out / "report.json").read_text())
    assert list(report["variants"]) == ["random"] and report["tasks"] == ["snips"]
    row = report["variants"]["random"]
    assert row["stage1"] is None and row["stage2"] is None
    _check_task_row(row["tasks"]["snips"])
    assert row["average"]["int8"] == row["tasks"]["snips"]["int8"]
    # No held-out text leaks into training: the split-off lines are the file's last 100.
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    assert manifest["counts"][0]["eval_lines"] == 100
    for name in ("report.md", "tradeoff.png", "mlm_curves.png"):
        assert (out / name).stat().st_size > 0
    assert "skipped" in report["tfidf"] or "snips" in report["tfidf"]
    stamp = (out / "random" / "result.json").stat().st_mtime_ns
    log = _run(tiny_stage_inputs, out, "--variants=random")
    assert "[random] finished earlier: skipped" in log
    assert (out / "random" / "result.json").stat().st_mtime_ns == stamp
    # Other settings in the same folder are refused, not mixed in.
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, SCRIPT, f"--output_dir={out}",
         f"--teacher={tiny_stage_inputs['teacher_dir']}",
         f"--train_files={tiny_stage_inputs['train_file']}", "--eval_lines=50",
         "--variants=random", "--tasks=snips"],
        capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode != 0
    assert "Fix: use a new --output_dir" in done.stderr


@pytest.mark.slow
def test_method_and_floor(tiny_stage_inputs, tmp_path):
    out = tmp_path / "reproduce"
    _run(tiny_stage_inputs, out, "--variants=method,random")
    report = json.loads((out / "report.json").read_text())
    assert list(report["variants"]) == ["method", "random"]
    method = report["variants"]["method"]
    assert method["stage1"]["run"] == "method"
    assert method["stage1"]["new_parameter_steps"] == 2
    assert set(method["stage1"]["end"]) == {"val_teacher_mlm_accuracy",
                                            "val_student_mlm_accuracy",
                                            "val_full_sv_student_mlm_accuracy"}
    # Two held-out scores a phase: steps 1, 2 (new parameters), then 3, 4 (joint).
    assert [s for s, _ in method["stage1"]["curves"]["full_sv_student_mlm_accuracy"]] == [
        1, 2, 3, 4]
    assert [s for s, _ in method["stage2"]["curves"]["mlm_accuracy"]] == [1, 2]
    assert method["stage2"]["end"]["val_mlm_accuracy"] is not None
    assert method["cpu_s"]["stage1"] > 0 and method["cpu_s"]["stage2"] > 0
    _check_task_row(method["tasks"]["snips"])
    # Same shape and vocabulary as the floor: the same int8 size.
    assert method["int8_size_mb"] == pytest.approx(
        report["variants"]["random"]["int8_size_mb"], rel=0.01)
    assert "| method |" in (out / "report.md").read_text()


@pytest.mark.slow
def test_sentence_embedding_stage2_variant(tiny_stage_inputs, tmp_path):
    out = tmp_path / "reproduce"
    _run(tiny_stage_inputs, out, "--variants=sentence_stage2")
    report = json.loads((out / "report.json").read_text())
    row = report["variants"]["sentence_stage2"]
    # The method's Stage I, shared (and charged) as for ablation A.
    assert row["stage1"]["run"] == "method" and row["cpu_s"]["stage1_shared"]
    assert (out / "method" / "stage1" / "export").is_dir()
    stage2 = row["stage2"]
    # The same optimizer steps as the masked-LM Stage II: 2 steps x 64 sentences.
    assert stage2["objective"] == "sentence_embedding"
    assert stage2["steps"] == 2 and stage2["sentences"] == 128
    assert -1.0 <= stage2["end"]["val_cosine"] <= 1.0
    assert -1.0 <= stage2["start"]["val_cosine"] <= 1.0
    assert [s for s, _ in stage2["curves"]["cosine"]] == [1, 2]
    assert (out / "sentence_stage2" / "stage2" / "stage1_table" / "export").is_dir()
    _check_task_row(row["tasks"]["snips"])
    assert f"cos {stage2['end']['val_cosine']:.3f}" in (out / "report.md").read_text()


def test_timing_record_marks_a_stage_resumed_after_a_kill(tmp_path):
    # A stage whose folder holds a checkpoint when it starts was killed before: its CPU
    # seconds are the last invocation's only, and the record (and report) must say so.
    fresh, killed = tmp_path / "fresh", tmp_path / "killed"
    fresh.mkdir()
    (killed / "new_parameters" / "checkpoints").mkdir(parents=True)
    (killed / "new_parameters" / "checkpoints" / "checkpoint").write_text("ckpt-20")
    code = ("import sys; sys.argv = ['reproduce']; sys.path.insert(0, 'experiments/reproduce'); "
            "import json, run as r; "
            f"a = r._timed({str(fresh / 't.json')!r}, lambda: None); "
            f"b = r._timed({str(killed / 't.json')!r}, lambda: None); "
            f"c = r._timed({str(killed / 't.json')!r}, lambda: 1 / 0); "
            "print(json.dumps([a, b, c]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    fresh_record, killed_record, again = json.loads(done.stdout.splitlines()[-1])
    assert fresh_record["resumed"] is False and killed_record["resumed"] is True
    assert again == killed_record  # a finished stage is not run again


def _schedule(tmp_path, method_returncode):
    """run_variants_in_processes with stand-in processes: `method` finishes its Stage I
    (writes the timing record) on its 2nd poll and exits on its 6th; the others exit on
    their 2nd. Returns the scheduler's log lines (and the error, if any)."""
    code = f"""
import json, os, subprocess, sys, time
sys.argv = ["reproduce"]
sys.path.insert(0, "experiments/reproduce")
import run as r
out = {str(tmp_path)!r}
r.FLAGS(["reproduce", "--output_dir=" + out])
time.sleep = lambda seconds: None

class Child:
    def __init__(self, command, stdout, stderr):
        self.name = [a for a in command if a.startswith("--variants=")][0].split("=")[1]
        self.polls = 0
        self.returncode = None

    def poll(self):
        self.polls += 1
        if self.name == "method" and self.polls == 2:
            os.makedirs(os.path.join(out, "method", "stage1"), exist_ok=True)
            if {method_returncode} == 0:
                open(os.path.join(out, "method", "stage1", r.TIMING_FILE), "w").write("{{}}")
        if self.polls >= (6 if self.name == "method" else 2):
            self.returncode = {method_returncode} if self.name == "method" else 0
        return self.returncode

subprocess.Popen = Child
lines = []
try:
    r.run_variants_in_processes(out, ["method", "random", "A_no_stage1"], 2, log=lines.append)
except r.ReproduceError as error:
    lines.append("ERROR " + str(error))
print(json.dumps(lines))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_readers_of_a_stage1_start_when_it_is_finished_not_after_the_first_wave(tmp_path):
    lines = _schedule(tmp_path / "ok", 0)
    # A reads the method's Stage I: it takes random's slot as soon as that Stage I is done,
    # while the method is still fine-tuning.
    assert lines.index("[A_no_stage1] started in its own process (log: "
                       f"{tmp_path / 'ok' / 'logs' / 'A_no_stage1.log'})") < lines.index(
                           "[method] exited with 0")
    assert not any(line.startswith("ERROR") for line in lines)
    # A method that fails before its Stage I is done fails its readers, which never start.
    lines = _schedule(tmp_path / "failed", 1)
    assert not any(line.startswith("[A_no_stage1] started") for line in lines)
    assert "A_no_stage1 (its Stage I, made by method, did not finish)" in lines[-1]


def test_variant_waves_keep_shared_stage1_runs_apart():
    # A parallel run (--jobs) must never train one Stage I in two processes at once.
    code = ("import sys; sys.argv = ['reproduce']; sys.path.insert(0, 'experiments/reproduce'); "
            "import json, run as r; print(json.dumps([r.variant_waves(list(r.VARIANTS)), "
            "r.variant_waves(['A_no_stage1', 'B_mlm_only', 'random'])]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    every, without_method = json.loads(done.stdout)
    assert every == [["method", "C_teacher_vocab", "psv_const0.1", "psv_const0.5", "random"],
                     ["sentence_stage2", "A_no_stage1", "B_mlm_only"]]
    # Without the method itself, the first reader of its Stage I makes it, alone of them.
    assert without_method == [["random", "A_no_stage1"], ["B_mlm_only"]]


@pytest.mark.slow
def test_parallel_jobs_run_each_variant_in_its_own_process(tiny_stage_inputs, tmp_path):
    out = tmp_path / "reproduce"
    log = _run(tiny_stage_inputs, out, "--variants=method,A_no_stage1,random", "--jobs=2")
    report = json.loads((out / "report.json").read_text())
    assert set(report["variants"]) == {"method", "A_no_stage1", "random"}
    for name in report["variants"]:
        assert f"[{name}] started in its own process" in log
        assert f"[{name}] finished earlier: skipped" in log  # the parent reads it back
        assert (out / "logs" / f"{name}.log").stat().st_size > 0
        _check_task_row(report["variants"][name]["tasks"]["snips"])
    assert report["variants"]["A_no_stage1"]["stage1"]["run"] == "method"
    assert report["settings"]["finetune_pooling"] == "auto"
