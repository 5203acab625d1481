"""mixvocab-tf: extremely small BERT students from mixed-vocabulary distillation.

The folders are the pipeline, one way down:
  vocab/ (stage 0) -> preprocessing/ -> stage1/ -> stage2/ -> tasks/ -> export/ -> assistant/,
standing on layers/, losses/, models/ (models and their folders) and training/; pipeline/
runs the whole job. The names below are the public API.
"""

from mixvocab_tf import _moved_modules

_moved_modules.install()

# The public API, in pipeline order (after the hook: an old module path imported below works).
from mixvocab_tf.vocab import Vocabulary  # noqa: E402
from mixvocab_tf.vocab import learn_vocabulary  # noqa: E402
from mixvocab_tf.preprocessing import MixedVocabPreprocessor  # noqa: E402
from mixvocab_tf.preprocessing import SingleVocabPreprocessor  # noqa: E402
from mixvocab_tf.preprocessing.vocabulary_statistics import vocabulary_statistics  # noqa: E402
from mixvocab_tf.models.bert_checkpoint import convert_bert_checkpoint  # noqa: E402
from mixvocab_tf.models.bert_checkpoint import load_google_checkpoint  # noqa: E402
from mixvocab_tf.models.encoders import load_encoder  # noqa: E402
from mixvocab_tf.models.mixed_vocab_teacher import MixedVocabTeacher  # noqa: E402
from mixvocab_tf.models.pretrained import load_student  # noqa: E402
from mixvocab_tf.models.pretrained import publish_student  # noqa: E402
from mixvocab_tf.models.pretrained import write_keras_hub_preset  # noqa: E402
from mixvocab_tf.models.stage1_directory import load_stage1  # noqa: E402
from mixvocab_tf.models.student_directory import load_student_directory  # noqa: E402
from mixvocab_tf.models.student_encoder import STUDENT_SIZES  # noqa: E402
from mixvocab_tf.models.student_encoder import StudentEncoder  # noqa: E402
from mixvocab_tf.models.teacher import Teacher  # noqa: E402
from mixvocab_tf.models.teacher import TeacherFileNotFoundError  # noqa: E402
from mixvocab_tf.models.teacher import TeacherLoadError  # noqa: E402
from mixvocab_tf.models.teacher_loading import load_teacher  # noqa: E402
from mixvocab_tf.training.callbacks import PsvRamp  # noqa: E402
from mixvocab_tf.training.config import MaskingConfig  # noqa: E402
from mixvocab_tf.training.config import TrainingConfig  # noqa: E402
from mixvocab_tf.stage1.config import Stage1Config  # noqa: E402
from mixvocab_tf.stage1.teacher_training import train_teacher  # noqa: E402
from mixvocab_tf.stage2.config import SentenceEmbeddingConfig  # noqa: E402
from mixvocab_tf.stage2.config import Stage2Config  # noqa: E402
from mixvocab_tf.stage2.distiller import Distiller  # noqa: E402
from mixvocab_tf.stage2.sentence_embedding import SentenceEmbeddingDistiller  # noqa: E402
from mixvocab_tf.stage2.sentence_embedding import distill_sentence_embeddings  # noqa: E402
from mixvocab_tf.stage2.student_distillation import distill_student  # noqa: E402
from mixvocab_tf.tasks.evaluation import evaluate_model_dir  # noqa: E402
from mixvocab_tf.tasks.configs import DistillTaskConfig  # noqa: E402
from mixvocab_tf.tasks.configs import DistillTrainingConfig  # noqa: E402
from mixvocab_tf.tasks.configs import FinetuneConfig  # noqa: E402
from mixvocab_tf.tasks.configs import TaskTrainingConfig  # noqa: E402
from mixvocab_tf.tasks.finetuning import finetune  # noqa: E402
from mixvocab_tf.tasks.heads import build_task_model  # noqa: E402
from mixvocab_tf.tasks.task_distillation import distill_task  # noqa: E402
from mixvocab_tf.tasks.task_model import TaskModel  # noqa: E402
from mixvocab_tf.tasks.task_model import load_task_model  # noqa: E402
from mixvocab_tf.tasks.task_model import save_task_model  # noqa: E402
from mixvocab_tf.tasks.task_registry import get_task  # noqa: E402
from mixvocab_tf.tasks.task_registry import task_names  # noqa: E402
from mixvocab_tf.export import export_tflite  # noqa: E402
from mixvocab_tf.export.on_device import load_classifier as load_on_device_classifier  # noqa: E402
from mixvocab_tf.pipeline import PipelineConfig  # noqa: E402
from mixvocab_tf.pipeline import run_pipeline  # noqa: E402

__version__ = "0.1.0"
