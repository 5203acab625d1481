"""What a pipeline run asks for: `PipelineConfig`, the run's constants, and the checks that
fail fast on inputs a later stage would fail on (`_validate_inputs`)."""

import dataclasses
import json
import os
from typing import Optional

from mixvocab_tf import paths
from mixvocab_tf.export.quantization import QUANTIZATIONS
from mixvocab_tf.models import student_encoder
from mixvocab_tf.models.student_encoder import STUDENT_SIZES
from mixvocab_tf.preprocessing.normalization import check_normalization
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import task_distillation
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.training.flag_defs import config_field
from mixvocab_tf.training.strategy import STRATEGIES
from mixvocab_tf.training.text_data import resolve_text_files

REPO_ROOT = paths.REPO_ROOT
# The embedded default data, shipped with the repository (see data/README.md).
DEFAULT_DATA_DIR = os.path.join(REPO_ROOT, "data")
STATE_FILE = "pipeline_state.json"
LABEL_CACHE = ".teacher_label_cache"  # hidden: not a stage directory
MB = 1e6  # sizes are reported in MB = 10^6 bytes
STAGE2_OBJECTIVES = ("sentence_embedding", "masked_lm")


class PipelineError(RuntimeError):
    """A stage finished but its output does not validate."""


_POOLING_CHOICES = ("auto", "mean", "cls", "ngram")  # heads.POOLING_AUTO + heads.POOLINGS
_NORMALIZATION_CHOICES = ("mediapipe", "bert")  # normalization.NORMALIZATIONS
_LIST_FIELDS = ("train_files", "distill_transfer_files")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Every setting of a pipeline run; the defaults are the embedded demo.

    Each field's default and help are written once, here (`config_field`): the help is its
    documentation and the help of its `tools/run_pipeline.py` / `mixvocab-demo` flag
    (`define_config_flags`). The measurements behind the defaults are in docs/RESULTS.md.

    The config is frozen: change a setting with `dataclasses.replace`. `train_files` and
    `distill_transfer_files` take a tuple or a list (kept as a tuple), or one comma-separated
    string; `resolved()` fills in the defaults that depend on the machine.

    Stage II's objectives: "sentence_embedding" (default) starts the student from the Stage I
    table (its embeddings, random layers) and learns the original teacher's mean-pooled
    sentence vectors (`distill_sentence_embeddings`; `stage2_steps` and `stage2_learning_rate`
    are not used); "masked_lm" is the paper's Stage II (`distill_student`), from the Stage I
    teacher, which at CPU budgets is too weak a masked-LM target.
    """

    output_dir: str = config_field("runs/demo", "The run directory (a folder a stage).")
    teacher: Optional[str] = config_field(
        None, "A BERT: Hugging Face directory, keras-hub preset or Google checkpoint, any path "
        "load_teacher reads (default: the offline all-MiniLM-L6-v2).")
    train_files: Optional[tuple] = config_field(
        None, "Corpus globs of Stage 0, I and II, one sentence or document a line (default: "
        "the shipped data/corpus and the task's training utterances).")
    task: str = config_field(
        "snips", "The fine-tuning task (a name of tasks.task_registry): a classification "
        "task, or snips_joint (intent + slots, one encoder and two heads).")
    data_dir: Optional[str] = config_field(
        None, "The task data folder (default: the shipped data/tasks).")
    vocab_size: int = config_field(5000, "Student vocabulary size (Stage 0's target).")
    vocab_max_lines: int = config_field(
        60_000, "Corpus lines the vocabulary is learned from (0: all).")
    vocab_max_unique_chars: int = config_field(
        100, "Alphabet of the vocabulary learner: the most frequent characters kept "
        "(docs/RESULTS.md, \"A prose vocabulary\": 100 segments prose and task text into fewer "
        "pieces than the learner's 400).")
    student_size: str = config_field(
        "6x128", f"Student size: {', '.join(STUDENT_SIZES)} or any <layers>x<hidden> (e.g. "
        "4x192).")
    sequence_length: int = config_field(64, "Stage I/II sequence length.")
    batch_size: int = config_field(16, "Stage I/II global batch size.")
    pack_lines: bool = config_field(
        True, "Stage I/II: join consecutive corpus lines into sequences of about "
        "--sequence_length tokens (--nopack_lines: a line each).")
    pretrained_student: Optional[str] = config_field(
        None, "Start from a published student (a name under pretrained/, e.g. 6x128, or a "
        "folder; mixvocab_tf.models.pretrained): skips the vocabulary, Stage I and Stage II, "
        "and fine-tuning starts from it.")
    stage1_new_parameter_steps: int = config_field(
        100, "Stage I's first phase: steps training only E_s, P and the MLM head (encoder "
        "frozen; train_teacher's new_parameter_steps).")
    stage1_steps: int = config_field(
        200, "Stage I joint-phase optimizer steps (after the new-parameter phase).")
    stage1_learning_rate: float = config_field(5e-5, "Stage I peak rate.")
    stage2_steps: int = config_field(
        600, "Stage II optimizer steps (--stage2_objective=masked_lm).")
    stage2_learning_rate: float = config_field(
        5e-4, "Stage II peak rate (--stage2_objective=masked_lm).")
    stage2_objective: str = config_field(
        "sentence_embedding", "Stage II: learn the original teacher's sentence vectors from "
        "the Stage I table (sentence_embedding) or the paper's masked-LM distillation from the "
        "Stage I teacher (masked_lm, --stage2_steps).", choices=STAGE2_OBJECTIVES)
    sentence_count: int = config_field(
        16_384, "Stage II sentence_embedding: corpus sentences trained on (from an equal "
        "paragraph sample of each corpus file; an eighth, at most 2,048, held out for "
        "val_cosine).")
    sentence_epochs: float = config_field(
        1.0, "Stage II sentence_embedding: passes over the sentences.")
    sentence_learning_rate: float = config_field(1e-3, "Stage II sentence_embedding: peak rate.")
    steps_per_loop: int = config_field(100, "Steps between checkpoints (Stage I and II).")
    finetune_epochs: int = config_field(
        2, "Student fine-tuning epochs (--notask_distillation).")
    finetune_batch_size: int = config_field(
        32, "Student task-model batch, fine-tuned or distilled.")
    finetune_learning_rate: float = config_field(
        3e-4, "Student task-model peak rate, fine-tuned or distilled.")
    finetune_sequence_length: int = config_field(
        32, "Task model (and TFLite export) sequence length.")
    finetune_pooling: str = config_field(
        "auto", "The student's classification sentence vector (tools/finetune.py --pooling; "
        "auto: ngram; a joint task needs auto).", choices=_POOLING_CHOICES)
    finetune_ngram_bag_buckets: int = config_field(
        0, "Rows of the student's hashed word-piece n-gram bag (e.g. 65521; tools/finetune.py "
        "--ngram_bag_buckets); 0 for none (a joint task needs 0).")
    joint_epochs: int = config_field(
        12, "Student epochs of plain training on a joint intent + slot task "
        "(--task=snips_joint --notask_distillation).")
    joint_learning_rate: float = config_field(
        1e-3, "Student peak rate on a joint intent + slot task (plain or distilled).")
    joint_batch_size: int = config_field(
        16, "Student batch on a joint intent + slot task (plain or distilled).")
    joint_slot_swap_augment: int = config_field(
        1, "Joint task distillation: slot-swapped variants of every training utterance (gold "
        "intent and tags kept) in the transfer set.")
    joint_distill_epochs: int = config_field(
        6, "Joint task distillation: passes over the transfer set.")
    joint_task_distillation: bool = config_field(
        False, "Distil a joint intent + slot student from the fine-tuned teacher (both heads; "
        "off: plain training, at a fraction of the cost). It wants a teacher fine-tuned on all "
        "the task's utterances (--teacher_finetune_examples=13084 for SNIPS).")
    teacher_finetune_examples: int = config_field(
        4000, "Training utterances of the fine-tuned teacher: the report's teacher row and "
        "the student's task teacher (0: neither; needs --notask_distillation).")
    teacher_finetune_epochs: int = config_field(2, "Epochs of the fine-tuned teacher.")
    task_distillation: bool = config_field(
        True, "Distil the student's task model from the fine-tuned teacher (KL to its "
        "softened probabilities + the gold labels); --notask_distillation: plain fine-tuning "
        "on the gold labels. Classification tasks (joint ones also need "
        "--joint_task_distillation).")
    distill_augment: int = config_field(
        1, "Task distillation: word-replaced variants of every training utterance (each one a "
        "teacher labelling pass and student steps more).")
    distill_epochs: int = config_field(3, "Task distillation: passes over the transfer set.")
    distill_kd_weight: float = config_field(
        1.0, "Task distillation: weight of the KL term (the gold labels' weight is 1).")
    distill_temperature: float = config_field(
        2.0, "Task distillation: temperature of the teacher's softened probabilities.")
    distill_transfer_files: Optional[tuple] = config_field(
        None, "Task distillation: unlabelled in-domain text (globs; a document a line, cut "
        "into sentences as transfer_text.TransferTextConfig says) the teacher labels into "
        "the transfer set (classification tasks; default: the task's own text).")
    distill_transfer_max_lines: int = config_field(
        0, "Task distillation: transfer sentences drawn from those files (0: all).")
    quantization: str = config_field(
        "dynamic_int8", "The student export's quantization.", choices=QUANTIZATIONS)
    normalization: str = config_field(
        "mediapipe", "Task models' tokenisation: mediapipe (what MediaPipe's TextClassifier "
        "and the app's tokenizer do: the same ids in LiteRT, MediaPipe and the Android app) or "
        "bert.", choices=_NORMALIZATION_CHOICES)
    oos_keep: float = config_field(
        0.98, "Out-of-scope threshold: the fraction of eval utterances that keep an answer "
        "(the rest, the least confident, get the out-of-scope reply).")
    mediapipe_python: Optional[str] = config_field(
        None, "The MediaPipe environment's Python, which adds the MediaPipe metadata to the "
        "bundle's model and scores it (default: .venv-mediapipe/bin/python if present; '' to "
        "skip MediaPipe).")
    strategy: str = config_field(
        "default", "tf.distribute strategy of Stage I and the masked-LM Stage II (the "
        "sentence-embedding Stage II trains on one device).", choices=STRATEGIES)
    seed: int = config_field(0, "Seed of every stage.")
    force: bool = config_field(False, "Redo every stage, done or not.")
    verbose: int = config_field(1, "1: progress bars; 2: a line an epoch.")

    def __post_init__(self):
        # A caller's list is kept as a tuple: the config is frozen and hashable, and its
        # records are unchanged (json writes a tuple as a list).
        for name in _LIST_FIELDS:
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))

    def resolved(self):
        """A copy with the defaults that depend on the machine filled in."""
        teacher = self.teacher or paths.minilm_teacher_path()
        data_dir = self.data_dir or os.path.join(DEFAULT_DATA_DIR, "tasks")
        train_files = self.train_files
        transfer_files = self.distill_transfer_files
        if isinstance(transfer_files, str):
            transfer_files = [p for p in transfer_files.split(",") if p]
        if not train_files:
            train_files = [os.path.join(DEFAULT_DATA_DIR, "corpus", "*.txt")]
            # The task's folder: snips, snips_slots and snips_joint share data/tasks/snips,
            # so switching between them keeps stages 0-II.
            folder = getattr(task_registry.get_task(self.task), "subdir", None) or self.task
            utterances = os.path.join(data_dir, folder, "train", "seq.in")
            if os.path.isfile(utterances):
                train_files.append(utterances)
        if isinstance(train_files, str):
            train_files = [p for p in train_files.split(",") if p]
        mediapipe_python = self.mediapipe_python
        if mediapipe_python is None:
            default = os.path.join(REPO_ROOT, ".venv-mediapipe", "bin", "python")
            mediapipe_python = default if os.access(default, os.X_OK) else ""
        return dataclasses.replace(self, teacher=str(teacher), data_dir=str(data_dir),
                                   train_files=tuple(train_files),
                                   distill_transfer_files=tuple(transfer_files or ()) or None,
                                   mediapipe_python=mediapipe_python)


def distils(cfg):
    """Whether the student's task model is distilled from the fine-tuned teacher.

    `task_distillation` on a classification task (`distill_task`); on a joint intent + slots
    task (`distill_joint`) only with `joint_task_distillation` as well: there its gain is
    small for a full-data teacher's cost, so plain training is the default.
    """
    task_type = task_registry.get_task(cfg.task).type
    return bool(cfg.task_distillation) and (
        task_type == task_registry.CLASSIFICATION
        or (task_type == task_registry.INTENT_AND_SLOTS and bool(cfg.joint_task_distillation)))


def _is_joint(task_name):
    return task_registry.get_task(task_name).type == task_registry.INTENT_AND_SLOTS


def _student_hidden(name):
    return student_encoder.student_size(name).hidden_dim


def _teacher_vocab_path(teacher):
    """The teacher's vocab.txt (a Hugging Face or keras-hub directory), else via `load_teacher`."""
    for candidate in (os.path.join(teacher, "vocab.txt"),
                      os.path.join(teacher, "assets", "tokenizer", "vocabulary.txt")):
        if os.path.isfile(candidate):
            return candidate
    return teacher  # resolved by the vocab stage through load_teacher


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise PipelineError(f"{path} is missing or unreadable ({error}).") from error


def _validate_inputs(cfg):
    """Fails fast, before any training, on inputs that would fail a later stage."""
    resolve_text_files(list(cfg.train_files))
    task = task_registry.get_task(cfg.task)
    if task.type not in (task_registry.CLASSIFICATION, task_registry.INTENT_AND_SLOTS):
        raise ValueError(f"--task={cfg.task} is a {task.type} task; the pipeline's report "
                         "scores classification and joint intent + slot tasks. Fix: pick an "
                         "intent or GLUE task, or snips_joint.")
    check_normalization(cfg.normalization)
    poolings = (heads.POOLING_AUTO,) + heads.POOLINGS
    if cfg.finetune_pooling not in poolings:
        raise ValueError(f"Unknown finetune_pooling {cfg.finetune_pooling!r}. Fix: choose one "
                         f"of {poolings}.")
    if ((cfg.finetune_pooling != heads.POOLING_AUTO or cfg.finetune_ngram_bag_buckets)
            and _is_joint(cfg.task)):
        raise ValueError(f"finetune_pooling and finetune_ngram_bag_buckets set a sentence "
                         f"classifier's head; {cfg.task} trains intent and slot heads of their "
                         "own. Fix: change them back to auto and 0 for a joint task.")
    if cfg.finetune_ngram_bag_buckets < 0:
        raise ValueError(f"finetune_ngram_bag_buckets={cfg.finetune_ngram_bag_buckets} must "
                         "be >= 0 (e.g. 65521; 0 for no bag). Fix: change the flag.")
    if distils(cfg):
        if not cfg.teacher_finetune_examples:
            raise ValueError(
                "task_distillation distils the student's task model from the fine-tuned "
                "teacher, but teacher_finetune_examples=0 turns the teacher's fine-tuning off. "
                "Fix: pass --teacher_finetune_examples=N with N > 0 (the demo: 4000), or "
                "--notask_distillation for plain fine-tuning on the gold labels.")
        try:
            task_distillation.check_settings(
                augment=cfg.distill_augment, epochs=cfg.distill_epochs,
                kd_weight=cfg.distill_kd_weight, temperature=cfg.distill_temperature)
        except ValueError as error:
            raise ValueError(f"distill_{error} Fix: change the --distill_* flag.") from None
        if _is_joint(cfg.task) and (cfg.joint_distill_epochs < 1
                                    or cfg.joint_slot_swap_augment < 0):
            raise ValueError(
                f"joint_distill_epochs ({cfg.joint_distill_epochs}) must be >= 1 and "
                f"joint_slot_swap_augment ({cfg.joint_slot_swap_augment}) >= 0. Fix: change "
                "the --joint_* flag.")
    if cfg.stage2_objective not in STAGE2_OBJECTIVES:
        raise ValueError(f"Unknown stage2_objective {cfg.stage2_objective!r}. Fix: choose one "
                         f"of {', '.join(STAGE2_OBJECTIVES)}.")
    if cfg.stage2_objective == "sentence_embedding" and (
            cfg.sentence_count < 1 or cfg.sentence_epochs <= 0):
        raise ValueError(
            f"sentence_count ({cfg.sentence_count}) and sentence_epochs "
            f"({cfg.sentence_epochs}) must be positive. Fix: change the --sentence_* flag.")
    if not 0.0 < cfg.oos_keep <= 1.0:
        raise ValueError(f"oos_keep must be in (0, 1], got {cfg.oos_keep}.")
    if not task.tfds_name and not os.path.exists(task.split_path(cfg.data_dir, "train")):
        raise FileNotFoundError(f"{task.split_path(cfg.data_dir, 'train')} does not exist. "
                                "Fix: pass --data_dir holding the task's folder.")
    _student_hidden(cfg.student_size)
    if cfg.strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {cfg.strategy!r}; choose one of {STRATEGIES}.")
    if not os.path.isfile(_teacher_vocab_path(cfg.teacher)) and not os.path.exists(cfg.teacher):
        raise FileNotFoundError(f"The teacher {cfg.teacher} does not exist. Fix: pass a "
                                "Hugging Face, keras-hub or Google BERT checkpoint directory.")
