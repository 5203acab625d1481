"""The settings of the task runners, as frozen config dataclasses (one per concern, nested).

`finetuning.finetune` takes a `FinetuneConfig`, `task_distillation.distill_task` and
`joint_distillation.distill_joint` a `DistillTaskConfig`; `tools/finetune.py` and
`tools/distill_task.py` generate their flags from the same classes
(`flag_defs.define_config_flags`), so each default and each help text is written once, here.
Nested configs define their flags unprefixed (`--batch_size`, `--pooling`, ...), except the
transfer text's (`--transfer_*`, see `transfer_text.TransferTextConfig`).

Every task model directory a runner writes records its config under "run_config"
(`dataclasses.asdict`).

Example:
>>> config = FinetuneConfig(task="snips",
...                         training=TaskTrainingConfig(epochs=1, sequence_length=32),
...                         data=DataSelectionConfig(max_train_examples=2000))
>>> finetune(config, "6x128", "../shared/data/tasks", "runs/snips")
>>> flat_config(FinetuneConfig, task="snips", epochs=1, max_train_examples=2000)  # the same
"""

import dataclasses
import functools
import inspect
import typing
import warnings
from typing import Optional

from mixvocab_tf.preprocessing.normalization import NORMALIZATIONS
from mixvocab_tf.tasks import heads
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks.selection import TRAIN_SELECTIONS
from mixvocab_tf.tasks.transfer_text import TransferTextConfig
from mixvocab_tf.training import flag_defs
from mixvocab_tf.training.flag_defs import config_field

# Word-replacement candidates of task distillation's augmentation.
REPLACERS = ("embedding", "mlm")
# Task distillation's epochs and peak rate when the config leaves them None: a joint intent +
# slot student (two heads, a fresh slot head) needs more of both.
DISTILL_EPOCHS, JOINT_DISTILL_EPOCHS = 2, 6
SOFT_LOSSES = ("kl", "mse")
DISTILL_LEARNING_RATE, JOINT_DISTILL_LEARNING_RATE = 1e-4, 1e-3


def _rate(value):
    return f"{value:.0e}".replace("e-0", "e-")  # 1e-4, as the help texts write rates


@dataclasses.dataclass(frozen=True)
class TaskTrainingConfig:
    """How the task model trains (`tools/finetune.py`'s defaults)."""

    epochs: Optional[int] = config_field(
        2, "Passes over the training examples (ignored when --train_steps is set).")
    train_steps: Optional[int] = config_field(None, "Optimizer steps instead of --epochs.")
    batch_size: int = config_field(16, "Batch size.")
    learning_rate: Optional[float] = config_field(1e-4, "Peak AdamW learning rate.")
    warmup_fraction: float = config_field(0.1, "Share of the steps spent warming up.")
    weight_decay: float = config_field(0.01, "Decoupled weight decay.")
    dropout: float = config_field(0.1, "Head dropout.")
    sequence_length: Optional[int] = config_field(64, "Sequence length L of the task model.")
    bucket_by_length: bool = config_field(
        True, "Train on batches of similar length cut to their longest example (rounded up to "
        "8 tokens) instead of padding to --sequence_length; same exported model. (Response "
        "selection always pads; joint intent + slot tasks always cut.)")
    seed: int = config_field(
        0, "Random seed (selection, augmentation, shuffling, initialisation).")


@dataclasses.dataclass(frozen=True)
class DistillTrainingConfig(TaskTrainingConfig):
    """How the student task model trains in task distillation (`tools/distill_task.py`'s
    defaults; None: resolved per task type by `resolved`)."""

    epochs: Optional[int] = config_field(
        None, f"Passes over the transfer set (default: {DISTILL_EPOCHS}; joint intent + slot "
        f"tasks {JOINT_DISTILL_EPOCHS}).")
    batch_size: int = config_field(32, "Batch size.")
    learning_rate: Optional[float] = config_field(
        None, f"Peak AdamW learning rate (default: {_rate(DISTILL_LEARNING_RATE)}; joint "
        f"intent + slot tasks {_rate(JOINT_DISTILL_LEARNING_RATE)}).")
    sequence_length: Optional[int] = config_field(
        None, "The student's L (default: the teacher's).")

    def resolved(self, joint, teacher_sequence_length=None):
        """This config with its None defaults filled in: the epochs and the rate of a joint
        intent + slot task or of a one-head task, and (given) the teacher's L."""
        # None or 0 (as the tool's flags always read them): the default.
        if not self.epochs:
            self = dataclasses.replace(
                self, epochs=JOINT_DISTILL_EPOCHS if joint else DISTILL_EPOCHS)
        if not self.learning_rate:
            self = dataclasses.replace(
                self,
                learning_rate=JOINT_DISTILL_LEARNING_RATE if joint else DISTILL_LEARNING_RATE)
        if not self.sequence_length and teacher_sequence_length:
            self = dataclasses.replace(self, sequence_length=teacher_sequence_length)
        return self


@dataclasses.dataclass(frozen=True)
class SentenceHeadConfig:
    """The (pair) classification sentence vector (`heads.build_task_model`)."""

    pooling: str = config_field(
        heads.POOLING_AUTO,
        "Classification sentence vector: 'ngram', the masked mean of the sequence output plus "
        "max-pooled 2- and 3-token convolutions; 'mean' (how sentence-transformers teachers "
        "were trained); 'cls', the pooled [CLS] output; 'auto': ngram for a student, mean for "
        "a teacher.",
        choices=(heads.POOLING_AUTO, heads.POOLING_MEAN, heads.POOLING_CLS, heads.POOLING_NGRAM))
    ngram_bag_buckets: int = config_field(
        0, "(Pair) classification: rows of a hashed bag of word-piece uni- and bigrams added "
        "beside the sentence vector (a prime above the vocabulary size, e.g. 65521); 0 for "
        "none.")
    ngram_bag_dim: int = config_field(32, "Width of the n-gram bag's vectors.")


@dataclasses.dataclass(frozen=True)
class DataSelectionConfig:
    """Which examples train and which are scored."""

    max_train_examples: Optional[int] = config_field(
        None, "Train on at most this many labelled examples.")
    train_selection: str = config_field(
        "random", "How --max_train_examples picks them (joint intent + slot tasks: random).",
        choices=TRAIN_SELECTIONS)
    examples_per_class: Optional[int] = config_field(
        None, "Few-shot training: this many examples of every label (e.g. 10 for BANKING77 "
        "10-shot), seeded by --seed; applied before --max_train_examples.")
    eval_split: Optional[str] = config_field(
        None, "Split scored after training (default: the task's dev/valid split); 'none' to "
        "skip.")
    max_eval_examples: Optional[int] = config_field(
        None, "Score at most this many examples (response selection: rounded to 100s).")
    skip_empty: bool = config_field(
        False, "Skip (and count) empty data lines instead of failing.")


_SLOT_SWAP_HELP = ("Slot tasks (*_slots, *_joint): add this many variants of every training "
                   "utterance with slot values swapped for others of the same type (gold "
                   "intent and tags kept); epochs are over the enlarged set.")
_SLOT_SWAP_RATE_HELP = "Probability that a slot span of a variant is swapped."
_SLOT_WEIGHT_HELP = ("Joint intent + slot tasks: weight of the slot loss terms (the intent "
                     "terms have weight 1).")


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """Everything `finetune` needs besides its inputs (model, data, output, teacher)."""

    task: Optional[str] = config_field(None, f"One of: {', '.join(task_registry.task_names())}.")
    training: TaskTrainingConfig = dataclasses.field(default_factory=TaskTrainingConfig)
    head: SentenceHeadConfig = dataclasses.field(default_factory=SentenceHeadConfig)
    data: DataSelectionConfig = dataclasses.field(default_factory=DataSelectionConfig)
    normalization: str = config_field(
        "bert", "Text normalisation: 'bert' (NFD, accents stripped, as BERT was trained) or "
        "'mediapipe' (exactly what MediaPipe's TextClassifier feeds the model on the device: "
        "ASCII-only lower-casing, accents kept). Classification only.",
        choices=NORMALIZATIONS)
    kd_weight: float = config_field(
        0.5, "With --teacher_dir: weight of the soft-label loss (hard labels: 1 - it).")
    temperature: float = config_field(2.0, "Distillation temperature.")
    oos_threshold: float = config_field(
        0.5, "CLINC150: out-of-scope below this top probability.")
    embedding_dim: int = config_field(128, "Response selection embedding size.")
    similarity_scale: float = config_field(
        20.0, "Response selection: the scale of the in-batch cosine similarities (logits).")
    slot_swap_augment: int = config_field(0, _SLOT_SWAP_HELP)
    slot_swap_rate: float = config_field(0.5, _SLOT_SWAP_RATE_HELP)
    slot_weight: float = config_field(1.0, _SLOT_WEIGHT_HELP)
    freeze_encoder: bool = config_field(
        False, "Train the head alone on the frozen encoder (a linear probe): a stronger "
        "few-shot teacher than full fine-tuning (BANKING77 10-shot, docs/RESULTS.md). "
        "Classification and pair classification.")


@dataclasses.dataclass(frozen=True)
class DistillTaskConfig:
    """Everything `distill_task` / `distill_joint` need besides their inputs (student,
    teacher, data, output, cache)."""

    task: Optional[str] = config_field(None, "The task (default: the teacher's).")
    training: DistillTrainingConfig = dataclasses.field(default_factory=DistillTrainingConfig)
    head: SentenceHeadConfig = dataclasses.field(default_factory=SentenceHeadConfig)
    data: DataSelectionConfig = dataclasses.field(default_factory=DataSelectionConfig)
    augment: int = config_field(0, "Word-replaced variants of every training example.")
    replace_rate: float = config_field(0.3, "Probability that an eligible word is replaced.")
    replacer: str = config_field(
        "embedding", "Replacement candidates: nearest whole words in the teacher's input "
        "embeddings, or the masked-LM guesses of --mlm_teacher.", choices=REPLACERS)
    num_candidates: int = config_field(15, "Candidates per replaced word (K).")
    mlm_teacher: Optional[str] = config_field(
        None, "--replacer=mlm: a Stage I directory or a teacher with a masked-LM head.")
    transfer_files: tuple = config_field(
        (), "Globs of unlabelled .txt / .txt.gz text, one example a line (pair tasks: "
        "first<TAB>second), labelled by the teacher.")
    # Its flags are --transfer_<field> (`define_flags`); joint tasks read only max_lines.
    transfer_text: TransferTextConfig = dataclasses.field(default_factory=TransferTextConfig)
    kd_weight: float = config_field(
        1.0, "Weight of the KL to the teacher's softened probabilities.")
    hard_weight: float = config_field(1.0, "Weight of the gold-label cross-entropy.")
    temperature: float = config_field(2.0, "Distillation temperature T.")
    soft_loss: str = config_field(
        "kl", "The teacher term: 'kl', KL to the teacher's probabilities at --temperature "
        "(Hinton et al.), or 'mse', squared error to its logits (Tang et al. 2019; "
        "--temperature unused). One-head tasks.", choices=SOFT_LOSSES)
    hard_labels_on_augmented: bool = config_field(
        False, "Also train variants on their original's gold label.")
    feature_weight: float = config_field(
        0.0, "Weight of the sentence-feature term (0: off): the student's sentence features "
        "(its classifier's input) through a learned projection, by cosine distance to the "
        "fine-tuned teacher's on every transfer example. Sentence and pair classification.")
    slot_swap_augment: int = config_field(
        1, "Joint intent + slot tasks: slot-swapped variants of every training utterance "
        "(gold intent and tags kept).")
    slot_swap_rate: float = config_field(0.5, _SLOT_SWAP_RATE_HELP)
    slot_weight: float = config_field(1.0, _SLOT_WEIGHT_HELP)


# The nested configs that `flat_config` and the flags do not flatten: they keep a prefix.
_PREFIXED = {"transfer_text": "transfer_"}


def define_flags(config_class, flag_values=None, skip=()):
    """Defines a runner config's flags: nested configs unprefixed, the transfer text's with
    `--transfer_`. `skip`: fields the binary defines itself."""
    kwargs = {} if flag_values is None else {"flag_values": flag_values}
    flag_defs.define_config_flags(config_class, skip=(*skip, *_PREFIXED), **kwargs)
    for name, prefix in _PREFIXED.items():
        if name in _field_types(config_class) and name not in skip:
            flag_defs.define_config_flags(_field_types(config_class)[name], prefix=prefix,
                                          **kwargs)


def config_from_flags(config_class, flag_values, skip=(), **overrides):
    """The runner config from the flags `define_flags` defined (`overrides` win)."""
    prefixed = {name: flag_defs.config_from_flags(_field_types(config_class)[name], flag_values,
                                                  prefix=prefix)
                for name, prefix in _PREFIXED.items()
                if name in _field_types(config_class) and name not in skip}
    return flag_defs.config_from_flags(config_class, flag_values, skip=(*skip, *_PREFIXED),
                                       **{**prefixed, **overrides})


def task_of(config):
    """The task name a runner config names (a ValueError with the fix when it names none)."""
    if not config.task:
        raise ValueError(f"{type(config).__name__}.task is not set. Fix: name the task, e.g. "
                         f"{type(config).__name__}(task=\"snips\", ...).")
    return config.task


def _field_types(config_class):
    return typing.get_type_hints(config_class)


def _default(field):
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def flat_config(config_class, **settings):
    """A runner config from flat field names: a nested config's fields by their own names.

    E.g. `flat_config(FinetuneConfig, task="snips", epochs=1, pooling="mean")` ==
    `FinetuneConfig(task="snips", training=TaskTrainingConfig(epochs=1),
    head=SentenceHeadConfig(pooling="mean"))`. A nested config may also be given whole
    (`training=...`), but not together with its flat fields. The transfer text's fields are
    not flattened (pass `transfer_text=TransferTextConfig(...)`).

    Raises:
      TypeError: a name that is no field of the config (as a function call would).
    """
    types = _field_types(config_class)
    fields = {field.name: field for field in dataclasses.fields(config_class)}
    owners = {}
    for name, field in fields.items():
        if dataclasses.is_dataclass(types[name]) and name not in _PREFIXED:
            for nested in dataclasses.fields(types[name]):
                owners[nested.name] = name
    top, nested = {}, {}
    for name, value in settings.items():
        if isinstance(value, list):
            value = tuple(value)  # a list flag's value, or an old call's list of files
        if name in fields:
            top[name] = value
        elif name in owners:
            nested.setdefault(owners[name], {})[name] = value
        else:
            raise TypeError(f"{config_class.__name__} has no setting {name!r}.")
    for owner, values in nested.items():
        if owner in top:
            raise TypeError(f"{owner} given whole and as {sorted(values)}: give one or the other.")
        top[owner] = dataclasses.replace(_default(fields[owner]), **values)
    return config_class(**top)


def legacy_config(config_class, task, max_transfer_lines=None, **settings):
    """The config of an old-style call: `task_name` and the old keyword settings.

    The old `max_transfer_lines` becomes `transfer_text.max_lines`.
    """
    config = flat_config(config_class, task=task, **settings)
    if max_transfer_lines is not None and not hasattr(config, "transfer_text"):
        raise TypeError(f"{config_class.__name__} has no setting 'max_transfer_lines'.")
    if max_transfer_lines:
        config = dataclasses.replace(config, transfer_text=dataclasses.replace(
            config.transfer_text, max_lines=max_transfer_lines))
    return config


def accepts_legacy_call(config_class):
    """Keeps a runner's old call, `runner(task_name, <inputs>, **settings)`, working for one
    release (with a DeprecationWarning naming the new call).

    The runner's new signature is `runner(config, <inputs>, **input_keywords)`, its inputs in
    the old order. An old call (a str first, or `task_name=`) gets its settings turned into a
    `config_class` by `legacy_config`; keywords the new signature names stay arguments.
    """

    def decorate(runner):
        parameters = list(inspect.signature(runner).parameters.values())[1:]
        inputs = [p.name for p in parameters]
        # The old calls' positional inputs: the new ones without a default, in the same order.
        required = [p.name for p in parameters if p.default is inspect.Parameter.empty]

        @functools.wraps(runner)
        def run(*args, **kwargs):
            if not ((args and isinstance(args[0], str)) or "task_name" in kwargs):
                config = args[0] if args else kwargs.get("config")
                if not isinstance(config, config_class):
                    raise TypeError(f"{runner.__name__} takes a {config_class.__name__} first, "
                                    f"got {type(config).__name__}.")
                return runner(*args, **kwargs)
            if args:
                task, args = args[0], args[1:]
            else:
                task = kwargs.pop("task_name")
            if len(args) > len(required):
                raise TypeError(f"{runner.__name__}: an old-style call takes at most "
                                f"{len(required) + 1} positional arguments.")
            arguments = dict(zip(required, args))
            settings = {}
            for name, value in kwargs.items():
                (arguments if name in inputs else settings)[name] = value
            config = legacy_config(config_class, task, **settings)  # a bad setting: TypeError
            warnings.warn(
                f"{runner.__name__}(task_name, ..., <settings>=...) is deprecated and goes in "
                f"the next release: call {runner.__name__}({config_class.__name__}(task=..., "
                f"...), {', '.join(required)}, ...) (configs.flat_config builds the config "
                "from the old keyword settings).", DeprecationWarning, stacklevel=2)
            return runner(config, **arguments)

        return run

    return decorate
