"""The main job: from a pretrained BERT to a quantized on-device task model, in one call.

Stages, in order, each writing one directory under `output_dir`:

  teacher_finetune/ the teacher fine-tuned on the task: the task teacher of `finetune/`, and
                    the report's teacher row
  vocab/            Stage 0: the student WordPiece vocabulary (`learn_vocabulary`)
  stage1/           Stage I: mixed-vocabulary training of the teacher (`train_teacher`)
  stage2/           Stage II: the general student. By default the Stage I table with random
                    layers (`stage2/stage1_table/`) learns the original teacher's sentence
                    vectors (`distill_sentence_embeddings`); `stage2_objective="masked_lm"`:
                    the paper's distillation from the Stage I teacher (`distill_student`)
  finetune/         the student's task model: by default distilled from `teacher_finetune/`
                    on the task's training text (`task_distillation.distill_task`: the teacher's
                    softened probabilities plus the gold labels); `task_distillation=False`:
                    plain fine-tuning on the gold labels (`finetuning.finetune`)
  tflite_text/      the student as dynamic-int8 TFLite, text in (`export_tflite`)
  tflite_ids/       the same, ids in (with vocabulary and labels beside it)
  tflite_float/     the student as float32 TFLite (the report's float row)
  android/          the Android bundle: the ids form with MediaPipe metadata, labels, vocabulary,
                    replies, the out-of-scope threshold and test vectors (`export/assistant.py`),
                    and the top-1 agreement of the runtime forms (`agreement.json`)
  teacher_tflite/   the fine-tuned teacher as float32 TFLite (the report's teacher row)
  .teacher_label_cache/  the teacher's logits on the transfer set (reused while the teacher
                    and the transfer set are unchanged)
  report.md, report.json, tradeoff.png

A stage is skipped when its recorded settings (chained with those of the stages
it reads, so a changed vocabulary reruns everything after it) equal the
requested ones *and* its output validates (files present, configs parse, step
counts reached). A stage whose settings changed, one whose input stage was
just redone, or every stage with `force=True`, is redone from scratch; one that was interrupted with the same
settings resumes (Stage I and II continue from their last checkpoint).

Example:

```python
from mixvocab_tf import pipeline

report = pipeline.run_pipeline(pipeline.PipelineConfig(output_dir="runs/demo"))
print(report["rows"][-1])  # the int8 student: size, parameters, accuracy, latency
```

The package: `config` (`PipelineConfig`, the constants, input validation), `stages` (the stage
list: what each stage runs, records and checks), `runner` (`run_pipeline`: fingerprints,
skip and resume, the state file, timings) and `report` (`report.md`, `report.json`,
`tradeoff.png`).
"""

from mixvocab_tf.pipeline.config import DEFAULT_DATA_DIR
from mixvocab_tf.pipeline.config import LABEL_CACHE
from mixvocab_tf.pipeline.config import MB
from mixvocab_tf.pipeline.config import REPO_ROOT
from mixvocab_tf.pipeline.config import STAGE2_OBJECTIVES
from mixvocab_tf.pipeline.config import STATE_FILE
from mixvocab_tf.pipeline.config import PipelineConfig
from mixvocab_tf.pipeline.config import PipelineError
from mixvocab_tf.pipeline.config import _validate_inputs  # noqa: F401  (tests)
from mixvocab_tf.pipeline.config import distils
from mixvocab_tf.pipeline.report import PEERS
from mixvocab_tf.pipeline.report import _pretrained_vocab_stats  # noqa: F401  (tests)
from mixvocab_tf.pipeline.report import _student_lines  # noqa: F401  (tests)
from mixvocab_tf.pipeline.report import format_table
from mixvocab_tf.pipeline.report import plot_tradeoff
from mixvocab_tf.pipeline.report import write_report
from mixvocab_tf.pipeline.runner import run_pipeline
from mixvocab_tf.pipeline.runner import stage_directories
from mixvocab_tf.pipeline.stages import _stages  # noqa: F401  (tests)

__all__ = [
    "DEFAULT_DATA_DIR", "LABEL_CACHE", "MB", "PEERS", "REPO_ROOT", "STAGE2_OBJECTIVES",
    "STATE_FILE", "PipelineConfig", "PipelineError", "distils", "format_table",
    "plot_tradeoff", "run_pipeline", "stage_directories", "write_report",
]
