"""mixvocab-tf: extremely small BERT students from mixed-vocabulary distillation.

The pipeline, one sub-package a stage:
  vocab/ (stage 0) -> preprocessing/ -> models/ (teacher, student, stage I)
  -> distillation/ (stage II) -> tasks/ (fine-tune) -> export/ (TFLite).
"""

from mixvocab_tf.models.student_encoder import StudentEncoder
from mixvocab_tf.models.teacher import Teacher
from mixvocab_tf.models.teacher import load_teacher

__version__ = "0.1.0"
