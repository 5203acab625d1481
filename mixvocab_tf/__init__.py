"""mixvocab-tf: extremely small BERT students from mixed-vocabulary distillation.

The pipeline, one sub-package a stage:
  vocab/ (stage 0) -> preprocessing/ -> models/ (teacher, student, stage I)
  -> distillation/ (stage II) -> tasks/ (fine-tune) -> export/ (TFLite).
"""

from mixvocab_tf.distillation.distiller import Distiller
from mixvocab_tf.distillation.student_distillation import distill_student
from mixvocab_tf.distillation.student_distillation import load_student_directory
from mixvocab_tf.distillation.sentence_embedding import SentenceEmbeddingDistiller
from mixvocab_tf.distillation.sentence_embedding import distill_sentence_embeddings
from mixvocab_tf.models.bert_checkpoint import convert_bert_checkpoint
from mixvocab_tf.models.bert_checkpoint import load_google_checkpoint
from mixvocab_tf.models.mixed_vocab_teacher import MixedVocabTeacher
from mixvocab_tf.models.student_encoder import STUDENT_SIZES
from mixvocab_tf.models.student_encoder import StudentEncoder
from mixvocab_tf.models.teacher import Teacher
from mixvocab_tf.models.teacher import TeacherFileNotFoundError
from mixvocab_tf.models.teacher import TeacherLoadError
from mixvocab_tf.models.teacher import load_teacher
from mixvocab_tf.models.teacher_training import load_stage1
from mixvocab_tf.models.teacher_training import train_teacher
from mixvocab_tf.export import export_tflite
from mixvocab_tf.export.on_device import load_classifier as load_on_device_classifier
from mixvocab_tf.pipeline import PipelineConfig
from mixvocab_tf.pipeline import run_pipeline
from mixvocab_tf.preprocessing import MixedVocabPreprocessor
from mixvocab_tf.pretrained import load_student
from mixvocab_tf.pretrained import publish_student
from mixvocab_tf.pretrained import write_keras_hub_preset
from mixvocab_tf.preprocessing import SingleVocabPreprocessor
from mixvocab_tf.tasks.encoder import load_encoder
from mixvocab_tf.tasks.evaluation import evaluate_model_dir
from mixvocab_tf.tasks.finetuning import finetune
from mixvocab_tf.tasks.heads import build_task_model
from mixvocab_tf.tasks.task_model import TaskModel
from mixvocab_tf.tasks.task_model import load_task_model
from mixvocab_tf.tasks.task_model import save_task_model
from mixvocab_tf.tasks.task_registry import get_task
from mixvocab_tf.tasks.task_registry import task_names
from mixvocab_tf.training.callbacks import PsvRamp
from mixvocab_tf.vocab import Vocabulary
from mixvocab_tf.vocab import learn_vocabulary
from mixvocab_tf.vocab import vocabulary_statistics

__version__ = "0.1.0"
