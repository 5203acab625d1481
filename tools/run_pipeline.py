r"""The main job in one command: BERT -> fine-tuned teacher; student vocabulary -> Stage I ->
Stage II (the teacher's sentence vectors; --stage2_objective=masked_lm: the paper's) -> the
student's task model distilled from the fine-tuned teacher (--notask_distillation:
plain fine-tuning) -> quantized TFLite (text and ids in) -> report.md, report.json, tradeoff.png.

The defaults are the embedded demo (`make demo`): the offline all-MiniLM-L6-v2 teacher, the
corpus and SNIPS split shipped under data/, sized for a 2-core machine (its time:
docs/RESULTS.md).

Usage:

  python tools/run_pipeline.py                      # the demo, into runs/demo
  python tools/run_pipeline.py --force              # redo every stage

  # Your own teacher and corpus, scaled up:
  python tools/run_pipeline.py --teacher=/ckpt/uncased_L-24_H-1024_A-16 \
    --train_files='corpus/*.txt' --task=snips --data_dir=../shared/data/tasks \
    --student_size=12x256 --stage1_steps=20000 --sentence_count=1000000 --batch_size=64 \
    --sequence_length=128 --strategy=mirrored --output_dir=runs/large

Rerunning the same command skips the stages whose output is complete and checks out.
"""

import os
import sys

from absl import app

# Run from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mixvocab_tf import demo  # noqa: E402  (defines the flags)

if __name__ == "__main__":
    app.run(demo.main)
