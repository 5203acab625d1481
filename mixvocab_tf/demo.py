"""The `mixvocab-demo` command and `tools/run_pipeline.py`: absl flags -> `pipeline.run_pipeline`.

Example:

  mixvocab-demo --output_dir=runs/demo          # the embedded demo
  mixvocab-demo --teacher=/ckpt/bert_large --train_files='corpus/*.txt' --sentence_count=500000
"""

import os
import time

from absl import app
from absl import flags

from mixvocab_tf.cli import exit_on_bad_input
from mixvocab_tf import pipeline

_DEFAULTS = pipeline.PipelineConfig()
FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", _DEFAULTS.output_dir, "The run directory (a folder a stage).")
flags.DEFINE_string("teacher", None, "A BERT: Hugging Face directory, keras-hub preset or Google "
                    "checkpoint (default: the offline all-MiniLM-L6-v2).")
flags.DEFINE_list("train_files", None, "Corpus globs, one sentence or document a line (default: "
                  "the shipped data/corpus and the task's training utterances).")
flags.DEFINE_string("task", _DEFAULTS.task, "The fine-tuning task: a classification task, or "
                    "snips_joint (intent + slots, one encoder and two heads).")
flags.DEFINE_string("data_dir", None, "The task data folder (default: the shipped data/tasks).")
flags.DEFINE_integer("vocab_size", _DEFAULTS.vocab_size, "Student vocabulary size.")
flags.DEFINE_integer("vocab_max_lines", _DEFAULTS.vocab_max_lines,
                     "Corpus lines the vocabulary is learned from (0: all).")
flags.DEFINE_string("student_size", _DEFAULTS.student_size,
                    "Student size: 12x256, 6x256, 12x128, 6x128 or 6x96.")
flags.DEFINE_integer("sequence_length", _DEFAULTS.sequence_length, "Stage I/II sequence length.")
flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Stage I/II global batch size.")
flags.DEFINE_string("pretrained_student", None, "Start from a published student (a name under "
                    "pretrained/, e.g. 6x128, or a folder): skips the vocabulary, Stage I and "
                    "Stage II.")
flags.DEFINE_bool("pack_lines", _DEFAULTS.pack_lines, "Stage I/II: join consecutive corpus lines "
                  "into sequences of about --sequence_length tokens (--nopack_lines: a line each).")
flags.DEFINE_integer("stage1_new_parameter_steps", _DEFAULTS.stage1_new_parameter_steps,
                     "Stage I steps training only E_s, P and the MLM head (encoder frozen).")
flags.DEFINE_integer("stage1_steps", _DEFAULTS.stage1_steps,
                     "Stage I joint-phase optimizer steps (after the new-parameter phase).")
flags.DEFINE_float("stage1_learning_rate", _DEFAULTS.stage1_learning_rate, "Stage I peak rate.")
flags.DEFINE_integer("stage2_steps", _DEFAULTS.stage2_steps,
                     "Stage II optimizer steps (--stage2_objective=masked_lm).")
flags.DEFINE_float("stage2_learning_rate", _DEFAULTS.stage2_learning_rate,
                   "Stage II peak rate (--stage2_objective=masked_lm).")
flags.DEFINE_enum("stage2_objective", _DEFAULTS.stage2_objective, pipeline.STAGE2_OBJECTIVES,
                  "Stage II: learn the teacher's sentence vectors from the Stage I table "
                  "(sentence_embedding) or the paper's masked-LM distillation (masked_lm, "
                  "--stage2_steps).")
flags.DEFINE_integer("sentence_count", _DEFAULTS.sentence_count,
                     "Stage II sentence_embedding: corpus sentences trained on.")
flags.DEFINE_float("sentence_epochs", _DEFAULTS.sentence_epochs,
                   "Stage II sentence_embedding: passes over the sentences.")
flags.DEFINE_float("sentence_learning_rate", _DEFAULTS.sentence_learning_rate,
                   "Stage II sentence_embedding: peak rate.")
flags.DEFINE_integer("steps_per_loop", _DEFAULTS.steps_per_loop, "Steps between checkpoints.")
flags.DEFINE_integer("finetune_epochs", _DEFAULTS.finetune_epochs,
                     "Student fine-tuning epochs (--notask_distillation).")
flags.DEFINE_integer("finetune_batch_size", _DEFAULTS.finetune_batch_size, "Fine-tuning batch.")
flags.DEFINE_float("finetune_learning_rate", _DEFAULTS.finetune_learning_rate,
                   "Student fine-tuning peak rate.")
flags.DEFINE_integer("finetune_sequence_length", _DEFAULTS.finetune_sequence_length,
                     "Task model (and TFLite) sequence length.")
flags.DEFINE_enum("finetune_pooling", _DEFAULTS.finetune_pooling,
                  ["auto", "mean", "cls", "ngram"],
                  "The student's classification sentence vector (tools/finetune.py --pooling; "
                  "auto: ngram).")
flags.DEFINE_integer("finetune_ngram_bag_buckets", _DEFAULTS.finetune_ngram_bag_buckets,
                     "Rows of the student's hashed word-piece n-gram bag (e.g. 65521; "
                     "tools/finetune.py --ngram_bag_buckets); 0 for none.")
flags.DEFINE_integer("joint_epochs", _DEFAULTS.joint_epochs,
                     "Student epochs of plain training on a joint intent + slot task "
                     "(--task=snips_joint --notask_distillation).")
flags.DEFINE_float("joint_learning_rate", _DEFAULTS.joint_learning_rate,
                   "Student peak rate on a joint intent + slot task.")
flags.DEFINE_integer("joint_slot_swap_augment", _DEFAULTS.joint_slot_swap_augment,
                     "Joint task distillation: slot-swapped variants of every training "
                     "utterance (gold intent and tags kept) in the transfer set.")
flags.DEFINE_integer("joint_batch_size", _DEFAULTS.joint_batch_size,
                     "Student batch on a joint intent + slot task (plain or distilled).")
flags.DEFINE_bool("joint_task_distillation", _DEFAULTS.joint_task_distillation,
                  "Distil a joint intent + slot student from the fine-tuned teacher (both heads; "
                  "off: plain training, within 0.5 slot F1 at a fraction of the cost).")
flags.DEFINE_integer("joint_distill_epochs", _DEFAULTS.joint_distill_epochs,
                     "Joint task distillation: passes over the transfer set.")
flags.DEFINE_integer("teacher_finetune_examples", _DEFAULTS.teacher_finetune_examples,
                     "Training utterances of the fine-tuned teacher: the report's teacher row "
                     "and the student's task teacher (0: neither; needs --notask_distillation).")
flags.DEFINE_integer("teacher_finetune_epochs", _DEFAULTS.teacher_finetune_epochs,
                     "Epochs of the fine-tuned teacher.")
flags.DEFINE_bool("task_distillation", _DEFAULTS.task_distillation,
                  "Distil the student's task model from the fine-tuned teacher (KL to its "
                  "softened probabilities + the gold labels); --notask_distillation: plain "
                  "fine-tuning on the gold labels. Classification tasks (joint ones also need "
                  "--joint_task_distillation).")
flags.DEFINE_integer("distill_augment", _DEFAULTS.distill_augment,
                     "Task distillation: word-replaced variants of every training utterance "
                     "(each one a teacher labelling pass and student steps more).")
flags.DEFINE_integer("distill_epochs", _DEFAULTS.distill_epochs,
                     "Task distillation: passes over the transfer set.")
flags.DEFINE_float("distill_kd_weight", _DEFAULTS.distill_kd_weight,
                   "Task distillation: weight of the KL term (the gold labels' weight is 1).")
flags.DEFINE_float("distill_temperature", _DEFAULTS.distill_temperature,
                   "Task distillation: temperature of the teacher's softened probabilities.")
flags.DEFINE_list("distill_transfer_files", None,
                  "Task distillation: unlabelled in-domain text (globs; a document a line, cut "
                  "into sentences) the teacher labels into the transfer set.")
flags.DEFINE_integer("distill_transfer_max_lines", _DEFAULTS.distill_transfer_max_lines,
                     "Task distillation: transfer sentences drawn from those files (0: all).")
flags.DEFINE_enum("quantization", _DEFAULTS.quantization,
                  ["float32", "float16", "dynamic_int8", "full_int8"],
                  "The student export's quantization.")
flags.DEFINE_enum("normalization", _DEFAULTS.normalization, ["mediapipe", "bert"],
                  "Task models' tokenisation: mediapipe (the same ids in LiteRT, MediaPipe and "
                  "the Android app) or bert.")
flags.DEFINE_float("oos_keep", _DEFAULTS.oos_keep,
                   "Out-of-scope threshold: the fraction of eval utterances that keep an answer.")
flags.DEFINE_string("mediapipe_python", None, "The MediaPipe environment's Python (default: "
                    ".venv-mediapipe/bin/python if present; '' to skip MediaPipe).")
flags.DEFINE_enum("strategy", _DEFAULTS.strategy, ["default", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy of Stage I and the masked-LM Stage II (the "
                  "sentence-embedding Stage II trains on one device).")
flags.DEFINE_integer("seed", _DEFAULTS.seed, "Seed of every stage.")
flags.DEFINE_bool("force", False, "Redo every stage, done or not.")
flags.DEFINE_integer("verbose", _DEFAULTS.verbose, "1: progress bars; 2: a line an epoch.")


def main(argv):
    del argv
    config = pipeline.PipelineConfig(**{
        field: FLAGS[field].value for field in pipeline.PipelineConfig.__dataclass_fields__})
    started = time.time()
    with exit_on_bad_input(pipeline.PipelineError, FileNotFoundError, ValueError):
        report = pipeline.run_pipeline(config)
    print()
    print(pipeline.format_table(report))
    print(f"\nwall time {time.time() - started:.1f} s; "
          f"report in {os.path.join(config.output_dir, 'report.md')}")


def run():
    """The `mixvocab-demo` console script."""
    app.run(main)

