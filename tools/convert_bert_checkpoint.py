r"""Converts an original Google BERT checkpoint into a keras-hub preset.

The input is the unzipped release directory (`bert_config.json`,
`bert_model.ckpt.index` + `.data-*`, `vocab.txt`), e.g. the paper's teacher
`wwm_uncased_L-24_H-1024_A-16`. The output is a keras-hub preset directory that
`mixvocab_tf.load_teacher` and `keras_hub.models.BertBackbone.from_preset` read.
When the checkpoint has its MLM head (`cls/predictions/*`) the preset is a
`keras_hub.models.BertMaskedLM` task preset plus `mlm_head_config.json`.

Usage:

  python tools/convert_bert_checkpoint.py \
    --checkpoint_dir=wwm_uncased_L-24_H-1024_A-16 \
    --output_dir=teachers/bert_large_wwm
"""

import os
import sys

from absl import app
from absl import flags

# Run from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mixvocab_tf.models import bert_checkpoint  # noqa: E402
from mixvocab_tf.models import teacher as teacher_lib  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "checkpoint_dir", None, "Google BERT checkpoint directory to convert."
)
flags.DEFINE_string("output_dir", None, "keras-hub preset directory to write.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --output_dir.")
flags.mark_flags_as_required(["checkpoint_dir", "output_dir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        teacher = bert_checkpoint.convert_bert_checkpoint(
            FLAGS.checkpoint_dir, FLAGS.output_dir, overwrite=FLAGS.overwrite
        )
    except (teacher_lib.TeacherLoadError, FileExistsError) as error:
        # A clear one-line message, not a traceback: the error names the fix.
        print(f"error: {error}", file=sys.stderr)
        return 1
    backbone = teacher.backbone
    print(
        f"Wrote {os.path.abspath(FLAGS.output_dir)}: BERT "
        f"{backbone.num_layers}x{backbone.hidden_dim} "
        f"({backbone.num_heads} heads, intermediate {backbone.intermediate_dim}), "
        f"vocabulary {len(teacher.vocabulary)}, "
        f"{'uncased' if teacher.lower_case else 'cased'}, "
        f"MLM head {'kept' if teacher.masked_lm_head is not None else 'absent'}, "
        f"{backbone.count_params():,} backbone parameters."
    )
    return 0


if __name__ == "__main__":
    app.run(main)
