"""What a pipeline run asks for: `PipelineConfig`, the run's constants, and the checks that
fail fast on inputs a later stage would fail on (`_validate_inputs`)."""

import dataclasses
import json
import os

from mixvocab_tf import paths
from mixvocab_tf.models.student_encoder import STUDENT_SIZES
from mixvocab_tf.preprocessing.normalization import check_normalization
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import task_distillation
from mixvocab_tf.tasks import task_registry
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


@dataclasses.dataclass
class PipelineConfig:
    """Every setting of a pipeline run; the defaults are the embedded demo.

    The measurements behind the defaults are in docs/RESULTS.md.

    Attributes:
      output_dir: the run directory (one subdirectory a stage).
      teacher: any path `load_teacher` reads; `None`: the offline all-MiniLM-L6-v2.
      train_files: corpus globs (Stage 0, I and II); `None`: the shipped corpus and
        the task's training utterances (unlabelled text).
      task: a task name of `tasks.task_registry`.
      data_dir: the task data folder; `None`: the shipped `data/tasks`.
      vocab_size, vocab_max_lines: Stage 0 target size and the lines it learns from.
      student_size: a named `StudentEncoder` size.
      sequence_length, batch_size: Stage I and II shapes.
      pack_lines: Stage I and II pack consecutive corpus lines into sequences of
        about `sequence_length` tokens (`False`: one line a sequence).
      pretrained_student: a published student (a name under `pretrained/` or a
        folder, see `mixvocab_tf.models.pretrained`) to start from: the vocabulary, Stage I
        and Stage II are skipped and fine-tuning starts from it.
      stage1_new_parameter_steps: Stage I's first phase (E_s, P and the MLM head
        only; `train_teacher`'s `new_parameter_steps`), before its `stage1_steps`.
      stage1_steps, stage1_learning_rate, stage2_steps, stage2_learning_rate: training.
      stage2_objective: what Stage II trains the student on. "sentence_embedding" (default):
        the student starts from the Stage I table (its embeddings, random layers) and learns
        the original teacher's mean-pooled sentence vectors on `sentence_count` corpus
        sentences (`distill_sentence_embeddings`; `stage2_steps` and `stage2_learning_rate`
        are not used). "masked_lm": the paper's Stage II (`distill_student`) for
        `stage2_steps`; at CPU budgets the Stage I teacher is too weak a masked-LM target.
      sentence_count, sentence_epochs, sentence_learning_rate: the sentence-embedding
        objective's sample (sentences from an equal paragraph sample of each corpus file;
        an eighth, at most 2,048, held out for `val_cosine`), passes and peak rate.
      steps_per_loop: checkpoint interval of Stage I and II.
      finetune_epochs, finetune_batch_size, finetune_learning_rate,
      finetune_sequence_length: the student's task training (`finetune_epochs`: plain
        fine-tuning only; the batch, rate and length serve distillation too; the length is
        also the export's).
      finetune_pooling, finetune_ngram_bag_buckets: the student's classification sentence
        vector (`heads.build_task_model`'s `pooling` and `ngram_bag_buckets`; plain and
        distilled, not joint tasks, which keep "auto"). Defaults "auto" (`heads.resolve_pooling`:
        "ngram" for the student) and 0.
      joint_epochs, joint_learning_rate: the student's plain training on a joint intent + slot
        task (`--task=snips_joint --notask_distillation`; the rate serves distillation too).
      joint_batch_size: the student's batch on a joint task, plain or distilled.
      joint_task_distillation, joint_slot_swap_augment, joint_distill_epochs: joint task
        distillation (`distill_joint`, off by default): slot-swapped variants of every training
        utterance (gold labels kept) and passes over the transfer set. It wants a teacher
        fine-tuned on all the task's utterances (--teacher_finetune_examples=13084 for SNIPS);
        one on the default 4,000 is a weaker one.
      teacher_finetune_examples: training utterances of the fine-tuned teacher (the report's
        teacher row and the task teacher of distillation; 0: neither, which needs
        `task_distillation=False`).
      teacher_finetune_epochs: its epochs.
      task_distillation: the student's task model learns the fine-tuned teacher
        (`distill_task`: KL to its softened probabilities on the transfer set plus
        cross-entropy to the gold labels) instead of the gold labels alone; a joint intent +
        slots task distils both heads (`distill_joint`) with `joint_task_distillation` too.
      distill_augment: word-replaced variants of every training utterance in the transfer set
        (each costs a teacher labelling pass and student steps).
      distill_epochs: passes over the transfer set.
      distill_transfer_files: unlabelled in-domain text (globs) the teacher labels into the
        transfer set, cut into sentences and drawn as `transfer_text.TransferTextConfig`
        says (classification tasks; e.g. IMDB reviews for SST-2). None: the task's own text.
      distill_transfer_max_lines: transfer sentences drawn from them (0: all).
      distill_kd_weight, distill_temperature: the KL term's weight and temperature (the gold
        labels' cross-entropy has weight 1).
      quantization: the student export's quantization.
      normalization: the task models' tokenisation: "mediapipe" (default: what MediaPipe's
        TextClassifier and the app's tokenizer do, so every runtime form gives the same ids
        and the same answer) or "bert".
      oos_keep: the out-of-scope threshold answers this fraction of the eval split (the
        rest, the least confident, get the out-of-scope reply).
      mediapipe_python: the MediaPipe environment's Python (default: `.venv-mediapipe` if
        it exists): adds the MediaPipe metadata to the bundle's model and scores it there.
      strategy: `default|mirrored|multi_worker|tpu` for Stage I and Stage II (the
        sentence-embedding objective's teacher pass runs on one device).
      seed: every stage's seed.
      force: redo every stage.
      verbose: Keras progress bars (1) or one line per epoch (2).
    """

    output_dir: str = "runs/demo"
    teacher: str = None
    train_files: tuple = None
    task: str = "snips"
    data_dir: str = None
    vocab_size: int = 5000
    vocab_max_lines: int = 60_000
    student_size: str = "6x128"
    sequence_length: int = 64
    batch_size: int = 16
    pack_lines: bool = True
    pretrained_student: str = None
    stage1_new_parameter_steps: int = 100
    stage1_steps: int = 200
    stage1_learning_rate: float = 5e-5
    stage2_steps: int = 600
    stage2_learning_rate: float = 5e-4
    stage2_objective: str = "sentence_embedding"
    sentence_count: int = 16_384
    sentence_epochs: float = 1.0
    sentence_learning_rate: float = 1e-3
    steps_per_loop: int = 100
    finetune_epochs: int = 2
    finetune_batch_size: int = 32
    finetune_learning_rate: float = 3e-4
    finetune_sequence_length: int = 32
    finetune_pooling: str = "auto"
    finetune_ngram_bag_buckets: int = 0
    joint_epochs: int = 12
    joint_learning_rate: float = 1e-3
    joint_batch_size: int = 16
    joint_slot_swap_augment: int = 1
    joint_distill_epochs: int = 6
    joint_task_distillation: bool = False
    teacher_finetune_examples: int = 4000
    teacher_finetune_epochs: int = 2
    task_distillation: bool = True
    distill_augment: int = 1
    distill_epochs: int = 3
    distill_kd_weight: float = 1.0
    distill_temperature: float = 2.0
    distill_transfer_files: tuple = None
    distill_transfer_max_lines: int = 0
    quantization: str = "dynamic_int8"
    normalization: str = "mediapipe"
    oos_keep: float = 0.98
    mediapipe_python: str = None
    strategy: str = "default"
    seed: int = 0
    force: bool = False
    verbose: int = 1

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


def _student_hidden(student_size):
    if student_size not in STUDENT_SIZES:
        raise ValueError(f"Unknown student size {student_size!r}. Fix: choose one of "
                         f"{', '.join(STUDENT_SIZES)}.")
    return STUDENT_SIZES[student_size].hidden_dim


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
    if not task.tfds_name and not os.path.isdir(task.split_path(cfg.data_dir, "train")):
        raise FileNotFoundError(f"{task.split_path(cfg.data_dir, 'train')} does not exist. "
                                "Fix: pass --data_dir holding the task's folder.")
    _student_hidden(cfg.student_size)
    if cfg.strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {cfg.strategy!r}; choose one of {STRATEGIES}.")
    if not os.path.isfile(_teacher_vocab_path(cfg.teacher)) and not os.path.exists(cfg.teacher):
        raise FileNotFoundError(f"The teacher {cfg.teacher} does not exist. Fix: pass a "
                                "Hugging Face, keras-hub or Google BERT checkpoint directory.")
