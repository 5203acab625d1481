"""The pipeline end to end at a tiny scale: every stage's output (the student's task model
distilled from the fine-tuned teacher), the report, skip-if-done, redo on changed settings or
lost output, `force`, and the one-line errors."""

import dataclasses
import glob
import json
import os
import subprocess
import sys

import pytest

from mixvocab_tf import pipeline

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ["teacher_finetune", "vocab", "stage1", "stage2", "finetune", "tflite_text",
          "tflite_ids", "tflite_float", "android", "teacher_tflite"]


def _tiny_task_dir(data_dir, root, train=240, valid=70):
    """A SNIPS folder with a few real utterances per split (every intent present)."""
    for split, count in (("train", train), ("valid", valid)):
        source = os.path.join(data_dir, "tasks", "snips", split)
        target = os.path.join(root, "snips", split)
        os.makedirs(target)
        with open(os.path.join(source, "seq.in"), encoding="utf-8") as f:
            texts = f.read().splitlines()
        with open(os.path.join(source, "label"), encoding="utf-8") as f:
            labels = f.read().splitlines()
        step = len(texts) // count  # an even spread keeps all 7 intents
        for name, lines in (("seq.in", texts), ("label", labels)):
            with open(os.path.join(target, name), "w", encoding="utf-8") as f:
                f.write("\n".join(lines[::step][:count]) + "\n")
    return str(root)


def _tiny_teacher(data_dir, path):
    """A random 2-layer BERT as wide as the smallest student (96), with the real uncased
    vocabulary and an MLM head, as a keras-hub preset: `load_teacher` reads it like any BERT.
    (The conftest teacher is 16 wide; Stage I's student table starts from a rank-d fit of the
    teacher's embeddings, which needs d <= the teacher's width.)"""
    import keras
    import keras_hub

    from mixvocab_tf.models.teacher import Teacher
    from mixvocab_tf.models.teacher import build_masked_lm_head

    with open(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt"), encoding="utf-8") as f:
        vocabulary = [line.rstrip("\n") for line in f]
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=2, num_heads=2, hidden_dim=96,
        intermediate_dim=192, max_sequence_length=64)
    head = build_masked_lm_head(backbone, "gelu", 1e-12)
    Teacher(backbone, vocabulary, True, head, "keras_hub").save_to_preset(str(path))
    return str(path)


@pytest.fixture(scope="module")
def tiny_config(tiny_stage_inputs, data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    return pipeline.PipelineConfig(
        output_dir=str(root / "run"), teacher=_tiny_teacher(data_dir, root / "teacher"),
        train_files=(tiny_stage_inputs["train_file"],), task="snips",
        data_dir=_tiny_task_dir(data_dir, root / "tasks"), vocab_size=400,
        vocab_max_lines=3000, student_size="6x96", sequence_length=32, batch_size=8,
        stage1_new_parameter_steps=2, stage1_steps=4, stage2_steps=4, sentence_count=64,
        sentence_epochs=4, steps_per_loop=2,
        finetune_epochs=1, distill_epochs=1,
        finetune_batch_size=32, finetune_sequence_length=16, teacher_finetune_examples=64,
        teacher_finetune_epochs=1, mediapipe_python="", verbose=0)


def _run(config):
    lines = []
    report = pipeline.run_pipeline(config, log=lines.append)
    status = {}
    for line in lines:
        for name in STAGES:
            if f"] {name} " in line and ("skipped" in line or "done in" in line):
                status[name] = "skipped" if "skipped" in line else "ran"
    return report, status


@pytest.fixture(scope="module")
def first_run(tiny_config):
    return _run(tiny_config)


def _mtimes(output_dir):
    return {name: os.path.getmtime(os.path.join(output_dir, name, "model.tflite"))
            for name in ("tflite_text", "tflite_ids", "tflite_float", "teacher_tflite")}


def test_every_stage_runs_and_the_report_is_complete(tiny_config, first_run):
    report, status = first_run
    out = tiny_config.output_dir
    assert status == {name: "ran" for name in STAGES}
    assert pipeline.stage_directories(out) == sorted(STAGES)
    for name in ("report.md", "report.json", "tradeoff.png", pipeline.STATE_FILE):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    with open(os.path.join(out, "tradeoff.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(out, "report.json")) as f:
        assert json.load(f)["rows"] == report["rows"]
    teacher, float_student, int8_student = report["rows"]
    assert teacher["model"].startswith("teacher") and "float32" in float_student["model"]
    assert int8_student["quantization"] == "dynamic_int8"
    for row in report["rows"]:
        assert 0.0 <= row["accuracy_tflite"] <= 1.0 and row["eval_examples"] == 70
        assert row["latency_ms_1_thread"] > 0 and row["parameters"] > 0
        # The size in the report is the file on disk.
        assert row["size_mb"] == pytest.approx(os.path.getsize(row["tflite"]) / 1e6, abs=1e-3)
    # Same student: int8 weights are smaller than float32 ones, the parameters are equal.
    assert int8_student["size_mb"] < float_student["size_mb"]
    assert int8_student["parameters"] == float_student["parameters"]
    assert int8_student["vocabulary_size"] == report["vocabulary"]["student_vocab_size"]
    assert abs(report["vocabulary"]["student_vocab_size"] - 400) <= 40
    markdown = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    assert pipeline.format_table(report) in markdown and "BERT-Tiny" in markdown
    assert all(report["stages"][name]["status"] == "ran" for name in STAGES)
    assert list(report["stages"]) == STAGES  # the teacher first: the student distils from it
    # The student's task model is distilled from the fine-tuned teacher, on the 240 examples
    # and (the default) one word-replaced variant of each.
    student = report["student_task_model"]
    assert student["method"] == "task_distillation" and student["augment"] == 1
    assert student["teacher_dir"] == os.path.join(out, "teacher_finetune")
    assert student["teacher_examples"] == 64
    assert student["transfer_examples"] == {"labelled": 240, "augmented": 240, "unlabelled": 0}
    assert student["teacher_labelling_cpu_seconds"] > 0 and student["student_cpu_seconds"] > 0
    assert not student["teacher_cache_hit"]
    assert "Student task model: distilled from the fine-tuned teacher" in markdown
    assert "| finetune (task distillation) | ran |" in markdown
    state = json.load(open(os.path.join(out, pipeline.STATE_FILE)))
    assert state["finetune"]["settings"]["method"] == "task_distillation"
    assert state["finetune"]["summary"]["distillation"]["transfer_examples"]["labelled"] == 240
    # Stage II (the default objective) taught the Stage I table the teacher's sentence
    # vectors: the held-out cosine rose, the student records it, and the table is kept.
    assert state["stage2"]["settings"]["objective"] == "sentence_embedding"
    record = json.load(open(os.path.join(out, "stage2", "export", "config.json")))
    record = record["sentence_embedding_distillation"]
    assert record["train_steps"] == 4 and record["sentences"] == 64  # 4 epochs at batch 64
    assert record["final_metrics"]["val_cosine"] > record["held_out_cosine_start"]
    assert os.path.isfile(os.path.join(out, "stage2", "stage1_table", "export", "student.keras"))
    # The teacher's logits are cached beside the stages, not as one.
    assert os.listdir(os.path.join(out, pipeline.LABEL_CACHE))
    # The Android bundle: the ids form, its threshold, vectors, and the forms' agreement.
    android = report["android"]
    assert os.path.isfile(os.path.join(android["bundle"], "assistant_vectors.tsv"))
    assert 0.0 <= android["threshold"] <= 1.0
    assert set(android["top1_agreement"]) == {"ids_litert vs text_litert"}
    assert android["top1_agreement"]["ids_litert vs text_litert"] >= 0.95
    assert "Android bundle" in markdown


def test_a_second_run_skips_every_stage(tiny_config, first_run):
    before = _mtimes(tiny_config.output_dir)
    report, status = _run(tiny_config)
    assert status == {name: "skipped" for name in STAGES}
    assert _mtimes(tiny_config.output_dir) == before
    assert report["rows"] == first_run[0]["rows"]


def test_lost_output_and_changed_settings_redo_only_what_depends_on_them(tiny_config, first_run):
    out = tiny_config.output_dir
    before = _mtimes(out)
    # The check reads the output rather than trusting the record.
    os.remove(os.path.join(out, "teacher_tflite", "model.tflite"))
    changed = dataclasses.replace(tiny_config, oos_keep=0.9)
    _, status = _run(changed)
    # Neither redoes the teacher's fine-tuning, so the distilled student stays.
    redone = {"android", "teacher_tflite"}
    assert status == {name: "ran" if name in redone else "skipped" for name in STAGES}
    after = _mtimes(out)
    assert after["tflite_text"] == before["tflite_text"]
    assert after["teacher_tflite"] > before["teacher_tflite"]


def test_the_student_distils_from_the_fine_tuned_teacher_unless_told_not_to(tiny_config):
    def stages(**changes):
        cfg = dataclasses.replace(tiny_config, **changes).resolved()
        pipeline._validate_inputs(cfg)  # noqa: SLF001
        return {stage.name: stage for stage in pipeline._stages(cfg)}  # noqa: SLF001

    # Stage II's objective: the sentence vectors read the teacher; masked_lm reads Stage I only.
    sentence = stages()["stage2"]
    assert sentence.settings["objective"] == "sentence_embedding"
    assert sentence.settings["sentences"] == 64 and sentence.inputs == ("stage1",)
    masked = stages(stage2_objective="masked_lm")["stage2"]
    assert "objective" not in masked.settings  # an earlier masked-LM record still matches
    assert masked.settings["steps"] == tiny_config.stage2_steps
    # A changed teacher redoes the student's task model (its fingerprint chains the teacher's).
    assert stages()["finetune"].inputs == ("stage2", "teacher_finetune")
    # --notask_distillation: plain fine-tuning, today's settings (an old record still matches).
    plain = stages(task_distillation=False)["finetune"]
    assert plain.inputs == ("stage2",)
    assert set(plain.settings) == {"task", "data_dir", "epochs", "learning_rate", "batch_size",
                                   "sequence_length", "seed", "normalization", "head"}
    assert plain.settings["epochs"] == tiny_config.finetune_epochs
    # The student's head, plain or distilled, is recorded: runs made when mean pooling was
    # the default (no "head") fine-tune again with "auto" (ngram for a student).
    assert plain.settings["head"] == {"pooling": "auto", "ngram_bag_buckets": 0}
    for distilled in (True, False):
        head = stages(task_distillation=distilled, finetune_pooling="ngram",
                      finetune_ngram_bag_buckets=101)["finetune"].settings["head"]
        assert head == {"pooling": "ngram", "ngram_bag_buckets": 101}
    # Without distillation the teacher may be left out altogether.
    assert "teacher_finetune" not in stages(task_distillation=False, teacher_finetune_examples=0)
    # A joint intent + slots model distils both heads (distill_joint), with its own epochs
    # and rate (the slot head needs many more than the intent) and slot-swapped variants.
    assert stages(task="snips_joint")["finetune"].inputs == ("stage2",)  # plain by default
    joint = stages(task="snips_joint", joint_task_distillation=True, joint_distill_epochs=5,
                   joint_learning_rate=2e-3, joint_slot_swap_augment=2)["finetune"]
    assert joint.inputs == ("stage2", "teacher_finetune")
    assert (joint.settings["epochs"], joint.settings["learning_rate"]) == (5, 2e-3)
    assert joint.settings["distillation"]["slot_swap_augment"] == 2
    assert joint.settings["batch_size"] == pipeline.PipelineConfig().joint_batch_size == 16
    plain_joint = stages(task="snips_joint", task_distillation=False, joint_epochs=5)["finetune"]
    assert plain_joint.inputs == ("stage2",) and plain_joint.settings["epochs"] == 5
    assert plain_joint.settings["batch_size"] == 16 and "head" not in plain_joint.settings
    # The joint teacher trains at a higher rate and batch 16; the intent teacher keeps its key set.
    assert stages(task="snips_joint")["teacher_finetune"].settings["learning_rate"] == 2e-4
    assert "learning_rate" not in stages()["teacher_finetune"].settings
    # snips and snips_joint read the same folder: stages 0-II are shared (same corpus files).
    assert (pipeline.PipelineConfig(task="snips_joint").resolved().train_files
            == pipeline.PipelineConfig(task="snips").resolved().train_files)
    assert any(f.endswith(os.path.join("snips", "train", "seq.in"))
               for f in pipeline.PipelineConfig(task="snips_joint").resolved().train_files)
    # The default corpus is prose only: the licence texts live outside data/corpus.
    corpus = [path for pattern in pipeline.PipelineConfig().resolved().train_files
              for path in glob.glob(pattern)]
    assert {os.path.basename(path) for path in corpus} == {
        "python_docs.txt", "wordnet_glosses.txt", "wikipedia_sample.txt",
        "eltec_novels_sample.txt", "seq.in"}


def test_the_config_is_frozen_and_its_fields_are_the_demo_flags():
    from absl import flags

    from mixvocab_tf.training.flag_defs import config_from_flags
    from mixvocab_tf.training.flag_defs import define_config_flags

    cfg = pipeline.PipelineConfig(train_files=["a.txt", "b.txt"], distill_transfer_files=["c"])
    assert cfg.train_files == ("a.txt", "b.txt") and cfg.distill_transfer_files == ("c",)
    assert json.dumps(dataclasses.asdict(cfg)) == json.dumps(
        {**dataclasses.asdict(pipeline.PipelineConfig()), "train_files": ["a.txt", "b.txt"],
         "distill_transfer_files": ["c"]})  # records are unchanged by the tuples
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1
    assert dataclasses.replace(cfg, seed=1).seed == 1 and cfg.resolved().train_files == (
        "a.txt", "b.txt")
    # Every field is a flag with the field's default, help and choices.
    flag_values = flags.FlagValues()
    define_config_flags(pipeline.PipelineConfig, flag_values=flag_values)
    flag_values(["demo", "--train_files=x.txt,y.txt", "--notask_distillation",
                 "--quantization=float16"])
    for field in dataclasses.fields(pipeline.PipelineConfig):
        assert field.metadata["help"] and flag_values[field.name].help.endswith(
            field.metadata["help"])  # an enum flag's help starts with its choices
        assert flag_values[field.name].default == (
            list(field.default) if isinstance(field.default, tuple) else field.default)
    assert flag_values["quantization"].parser.enum_values == [
        "float32", "float16", "dynamic_int8", "full_int8"]
    assert "F1" not in flag_values["joint_task_distillation"].help  # see docs/RESULTS.md
    assert config_from_flags(pipeline.PipelineConfig, flag_values) == dataclasses.replace(
        pipeline.PipelineConfig(), train_files=("x.txt", "y.txt"), task_distillation=False,
        quantization="float16")


def test_distillation_without_the_teacher_fails_before_any_stage(tiny_config, tmp_path):
    cfg = dataclasses.replace(tiny_config, output_dir=str(tmp_path / "run"),
                              teacher_finetune_examples=0)
    with pytest.raises(ValueError, match="teacher_finetune_examples=0.*Fix: pass "
                                         "--teacher_finetune_examples=N.*--notask_distillation"):
        pipeline.run_pipeline(cfg, log=lambda line: None)
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize("change, message", [
    ({"distill_augment": -1}, "distill_augment must be >= 0, got -1"),
    ({"distill_epochs": 0}, "distill_epochs must be >= 1, got 0"),
    ({"distill_kd_weight": -0.5}, "distill_kd_weight \\(-0.5\\)"),
    ({"distill_temperature": 0.0}, "distill_temperature must be > 0"),
    ({"stage2_objective": "mlm"}, "Unknown stage2_objective 'mlm'"),
    ({"sentence_count": 0}, "sentence_count \\(0\\) and sentence_epochs \\(4\\) must be "
     "positive"),
    ({"task": "snips_joint", "joint_task_distillation": True, "joint_distill_epochs": 0},
     "joint_distill_epochs \\(0\\) must be"),
    ({"task": "snips_joint", "joint_task_distillation": True, "joint_slot_swap_augment": -1},
     "joint_slot_swap_augment \\(-1\\)"),
    ({"finetune_pooling": "max"}, "Unknown finetune_pooling 'max'"),
    ({"student_size": "4-192"}, "Unknown student size '4-192'"),
    ({"finetune_ngram_bag_buckets": -1}, "finetune_ngram_bag_buckets=-1 must be >= 0"),
    ({"task": "snips_joint", "finetune_ngram_bag_buckets": 101},
     "set a sentence classifier's head; snips_joint"),
    ({"task": "snips_joint", "finetune_pooling": "mean"},
     "set a sentence classifier's head; snips_joint"),
])
def test_bad_distillation_settings_fail_before_any_stage(tiny_config, tmp_path, change, message):
    cfg = dataclasses.replace(tiny_config, output_dir=str(tmp_path / "run"), **change)
    with pytest.raises(ValueError, match=message + ".*Fix: (change|choose)"):
        pipeline.run_pipeline(cfg, log=lambda line: None)
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.slow  # a second full tiny run: about 1 minute on 2 idle cores, 4 when loaded
def test_force_redoes_every_stage(tiny_config, first_run):
    before = _mtimes(tiny_config.output_dir)
    forced = dataclasses.replace(tiny_config, teacher_finetune_epochs=2, force=True)
    _, status = _run(forced)
    assert status == {name: "ran" for name in STAGES}
    assert all(after > before[name] for name, after in _mtimes(tiny_config.output_dir).items())


def test_tool_reports_bad_input_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "run_pipeline.py"),
         f"--output_dir={tmp_path / 'run'}", f"--train_files={tmp_path / 'missing*.txt'}"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if "run_pipeline.py: error" in line]
    assert len(error) == 1 and "missing" in error[0] and "Fix" in error[0]
    assert not os.path.exists(tmp_path / "run")


def test_report_names_the_slot_swapped_variants_of_a_joint_transfer_set():
    student = {"method": "task_distillation", "teacher_examples": 4000, "augment": 0,
               "transfer_examples": {"labelled": 13084, "slot_swapped": 13084, "augmented": 0,
                                     "unlabelled": 0},
               "teacher_cache_hit": False, "augment_cpu_seconds": 0.2, "kd_weight": 1.0,
               "temperature": 2.0, "hard_weight": 1.0, "epochs": 6,
               "teacher_labelling_cpu_seconds": 222.4, "student_cpu_seconds": 980.0,
               "student_wall_seconds": 700.0}
    line = pipeline._student_lines(student)[0]  # noqa: SLF001
    assert "transfer set 26,168 examples (13,084 labelled, 13,084 slot-swapped variants" in line
    del student["transfer_examples"]["slot_swapped"]
    assert "slot-swapped" not in pipeline._student_lines(student)[0]  # noqa: SLF001
