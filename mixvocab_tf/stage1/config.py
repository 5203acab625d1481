"""Stage I's settings: `Stage1Config` (`train_teacher`, tools/train_teacher.py's flags)."""

import dataclasses
from typing import Optional

from mixvocab_tf.training.config import MaskingConfig
from mixvocab_tf.training.config import TrainingConfig
from mixvocab_tf.training.config import check_choices
from mixvocab_tf.training.flag_defs import config_field


@dataclasses.dataclass(frozen=True, kw_only=True)
class Stage1Config:
    """How Stage I teaches the teacher the student vocabulary.

    Training has up to two phases. The new-parameter phase (`new_parameter_steps > 0`)
    trains only what the checkpoint did not provide (`E_s`, `P`, the MLM head) with the
    encoder frozen, at its own higher rate, while p_sv ramps from 0 to `p_sv_end`: a teacher
    without an MLM head (all-MiniLM-L6-v2, any sentence-embedding BERT) otherwise sends
    random-head gradients into the very layers Stage II copies. The joint phase then trains
    everything for `training.train_steps` at `training.learning_rate`, p_sv ramping linearly
    from `p_sv_start` to `p_sv_end` over `p_sv_ramp_fraction` of its steps and holding there,
    so the teacher trains on fully student-segmented text while its rate is still high (a
    ramp over all steps ends where cosine decay has brought the rate to zero).

    The default phase split (`new_parameter_steps=None`: half of `train_steps`, a third of
    the whole budget) and the ramp are measured by `benchmarks/stage_defaults.py`
    (docs/RESULTS.md).

    `student_init="teacher"` starts `E_s P` at a rank-`d` fit of the teacher's embeddings of
    each student token (`MixedVocabTeacher.initialize_student_table`); `"random"` is the
    paper's random start.

    Example:
    >>> config = Stage1Config(student_embedding_dim=128,
    ...                       training=TrainingConfig(learning_rate=5e-5, train_steps=2000))
    >>> train_teacher(config, teacher_path, "vocab.txt", ["corpus.txt"], "runs/stage1")
    """

    p_sv_start: float = config_field(
        0.1, "Share of words segmented with the student vocabulary at step 0.")
    p_sv_end: float = config_field(
        1.0, "... at --p_sv_ramp_fraction of the steps and after (linear ramp).")
    p_sv_ramp_fraction: float = config_field(
        0.6, "Share of the steps after which p_sv holds at --p_sv_end (each phase).")
    student_embedding_dim: int = config_field(
        128, "Width d of the student embedding table.")
    student_init: str = config_field(
        "teacher", "Start E_s P from the teacher's embeddings of each student token, or at "
        "random.", choices=("teacher", "random"))
    new_parameter_steps: Optional[int] = config_field(
        None, "Steps training only E_s, P and the MLM head (encoder frozen, p_sv from 0) "
        "before the --train_steps of the joint phase; 0 skips that phase "
        "(default: half of --train_steps).")
    new_parameter_learning_rate: float = config_field(1e-3, "Peak AdamW rate of that phase.")
    whole_word_masking: bool = config_field(
        False, "Mask all pieces of a selected word (else pieces independently).")
    training: TrainingConfig = dataclasses.field(
        default_factory=lambda: TrainingConfig(learning_rate=5e-5))
    masking: MaskingConfig = dataclasses.field(default_factory=MaskingConfig)

    def __post_init__(self):
        check_choices(self)
        if not 0.0 < self.p_sv_ramp_fraction <= 1.0:
            raise ValueError(f"p_sv_ramp_fraction={self.p_sv_ramp_fraction} must be in (0, 1].")
        if self.new_parameter_steps is not None and self.new_parameter_steps < 0:
            raise ValueError(f"new_parameter_steps={self.new_parameter_steps} must be >= 0.")

    def new_parameter_phase_steps(self):
        """`new_parameter_steps`, `None` resolved to half of `training.train_steps`."""
        if self.new_parameter_steps is None:
            return self.training.train_steps // 2
        return self.new_parameter_steps
