"""Stage II's settings: `Stage2Config` (`distill_student`, tools/distill_student.py) and
`SentenceEmbeddingConfig` (`distill_sentence_embeddings`, tools/distill_embeddings.py)."""

import dataclasses
from typing import Optional

from mixvocab_tf.training.config import MIXED_PRECISION_POLICIES
from mixvocab_tf.training.config import MaskingConfig
from mixvocab_tf.training.config import TrainingConfig
from mixvocab_tf.training.config import check_choices
from mixvocab_tf.training.flag_defs import config_field
from mixvocab_tf.training.strategy import STRATEGIES


@dataclasses.dataclass(frozen=True, kw_only=True)
class Stage2Config:
    """How Stage II distils the student from the Stage I teacher.

    The student is `student_size` (a name of `STUDENT_SIZES` or any `"LxH"`), with any
    explicit size given overriding it, or the explicit sizes alone (`student_size=None`).
    With `kd_weight = hidden_weight = attention_weight = 0` and `init_from_teacher=False`
    this trains the same student with MLM alone, the baseline the method is measured
    against.

    Example:
    >>> config = Stage2Config(student_size="6x128",
    ...                       training=TrainingConfig(learning_rate=5e-4, train_steps=2000))
    >>> distill_student(config, "runs/stage1", ["corpus.txt"], "runs/stage2")
    """

    student_size: Optional[str] = config_field(
        "6x128", "A named size (12x256, 6x256, 12x128, 6x128, 6x96) or any <layers>x<hidden> "
        "(e.g. 2x32); empty to use the explicit sizes.")
    num_layers: Optional[int] = config_field(
        None, "Explicit student layers (overrides the named size).")
    hidden_dim: Optional[int] = config_field(None, "Explicit student hidden size.")
    num_heads: Optional[int] = config_field(None, "Explicit attention heads.")
    intermediate_dim: Optional[int] = config_field(None, "Explicit feed-forward width.")
    mlm_weight: float = config_field(1.0, "Weight of the student's masked-LM cross-entropy.")
    kd_weight: float = config_field(1.0, "Weight of the MLM logit distillation (KL).")
    hidden_weight: float = config_field(
        1.0, "Weight of the hidden-state MSE via the shared projection.")
    attention_weight: float = config_field(0.0, "Weight of the attention KL.")
    temperature: float = config_field(1.0, "Logit distillation temperature.")
    projection: str = config_field(
        "up", "Shared projection: student H -> teacher D (up) or D -> H (down).",
        choices=("up", "down"))
    init_from_teacher: bool = config_field(
        True, "Start the word embeddings from the Stage I table.")
    training: TrainingConfig = dataclasses.field(
        default_factory=lambda: TrainingConfig(learning_rate=5e-4))
    masking: MaskingConfig = dataclasses.field(default_factory=MaskingConfig)

    def __post_init__(self):
        check_choices(self)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SentenceEmbeddingConfig:
    """How a student learns the original teacher's sentence vectors.

    The sentences are an equal sample of paragraphs of each corpus file
    (`corpus_sentences`), the last `held_out_sentences` never trained on (the logged
    `val_cosine` is the student's mean cosine to the teacher on them). The student trains
    with AdamW, warm-up and cosine decay; `batch_size` is global under a `strategy`, and the
    exported student is float32 whatever `mixed_precision`.

    Example:
    >>> config = SentenceEmbeddingConfig(max_sentences=20_000)
    >>> distill_sentence_embeddings(config, "runs/stage1_table/export", teacher_path,
    ...                             ["corpus.txt.gz"], "runs/sentence_embeddings")
    """

    paragraphs_per_file: int = config_field(50_000, "Paragraphs sampled from each corpus file.")
    max_sentences: Optional[int] = config_field(
        None, "Keep at most this many sentences (default: all).")
    held_out_sentences: int = config_field(
        2048, "Sentences kept out of training, for val_cosine.")
    epochs: float = config_field(
        1.0, "Passes over the training sentences (the committed students: 1).")
    batch_size: int = config_field(64, "Sentences a step.")
    learning_rate: float = config_field(1e-3, "Peak AdamW learning rate.")
    warmup_fraction: float = config_field(0.05, "Share of steps spent warming up.")
    sequence_length: int = config_field(64, "The student's sequence length.")
    teacher_sequence_length: int = config_field(96, "The teacher's sequence length.")
    steps_per_loop: int = config_field(
        500, "Steps between checkpoints and held-out evaluations.")
    strategy: str = config_field(
        "default", "tf.distribute strategy of the student's training (--batch_size is "
        "global).", choices=STRATEGIES)
    mixed_precision: Optional[str] = config_field(
        None, "Mixed-precision policy of the student's training (the export is float32).",
        choices=MIXED_PRECISION_POLICIES)
    seed: int = config_field(0, "Sampling, shuffling and initialisation seed.")
    word_weight: float = config_field(
        0.0, "Weight of a word-level term beside the sentence vector: the student's last "
        "hidden state at each word's first piece, through the same projection, against the "
        "teacher's at its first piece (cosine distance, words aligned by whitespace); 0: the "
        "sentence vector alone.")
    max_words: int = config_field(
        24, "With --word_weight: the first this many words of a sentence are compared.")

    def __post_init__(self):
        check_choices(self)
        if self.word_weight < 0 or self.max_words < 1:
            raise ValueError(f"word_weight={self.word_weight}, max_words={self.max_words}: "
                             "word_weight must be >= 0 and max_words >= 1.")
        if self.epochs <= 0 or self.batch_size < 1 or self.held_out_sentences < 1:
            raise ValueError(
                f"epochs={self.epochs}, batch_size={self.batch_size}, held_out_sentences="
                f"{self.held_out_sentences}: each must be positive.")
