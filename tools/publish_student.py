"""Publishes a Stage II student as a pre-distilled student users load by name.

Writes `--output` (default `pretrained/<name>`): float16 `weights.npz`,
`config.json`, `vocab.txt` and `MODEL_CARD.md`, every file under 10 MB; with
`--keras_hub_preset`, also a keras-hub `BertBackbone` + `BertTokenizer` preset.

Example:

  python tools/publish_student.py --student_dir=runs/recipe/stage2 --name=6x128 \
    --teacher=bert-large-uncased --corpora=wikipedia_en,eltec_novels_en \
    --stage1_steps=100000 --stage2_steps=200000 --recipe="$(cat runs/recipe/commands.txt)" \
    --evaluation=runs/card_6x128/evaluation.json --keras_hub_preset=pretrained/6x128/keras_hub

Then `mixvocab_tf.load_student("6x128")` and `tools/finetune.py --model=6x128` read it.
"""

import json
import os

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("student_dir", None, "A Stage II student directory or run folder.")
flags.DEFINE_string("name", None, "The name users load it by, e.g. 6x128.")
flags.DEFINE_string("output", None, "The folder to write (default: pretrained/<name>).")
flags.DEFINE_string("teacher", None, "The teacher, for the model card.")
flags.DEFINE_list("corpora", [], "The distillation corpora, for the model card.")
flags.DEFINE_integer("stage1_steps", None, "Stage I steps, for the model card.")
flags.DEFINE_integer("stage2_steps", None, "Stage II steps, for the model card.")
flags.DEFINE_string("recipe", None, "The commands that made it, for the model card.")
flags.DEFINE_string("evaluation", None, 'Scores as JSON, {"task": {"metric": value}}, or a '
                    "JSON file of them (tools/evaluate_student.py writes one).")
flags.DEFINE_string("license", None, "The model card's licence line.")
flags.DEFINE_string("keras_hub_preset", None, "Also write a keras-hub preset folder here.")
flags.mark_flags_as_required(["student_dir", "name"])


def _evaluation(value):
    """--evaluation's scores: JSON text, or the path of a JSON file."""
    if not value:
        return None
    if os.path.isfile(value):
        with open(value, encoding="utf-8") as f:
            value = f.read()
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"--evaluation is neither a JSON file nor JSON ({error}). Fix: pass "
                         "evaluation.json from tools/evaluate_student.py.") from None


def main(argv):
    del argv
    from mixvocab_tf.models import pretrained
    from mixvocab_tf.cli import exit_on_bad_input

    output = FLAGS.output or os.path.join(pretrained.pretrained_root(), FLAGS.name)
    provenance = {key: value for key, value in {
        "teacher": FLAGS.teacher, "corpora": FLAGS.corpora, "stage1_steps": FLAGS.stage1_steps,
        "stage2_steps": FLAGS.stage2_steps, "recipe": FLAGS.recipe}.items()
        if value is not None and value != []}
    with exit_on_bad_input(ValueError, FileNotFoundError):
        evaluation = _evaluation(FLAGS.evaluation)
        config = pretrained.publish_student(FLAGS.student_dir, output, FLAGS.name, provenance,
                                            evaluation, FLAGS.license)
        if FLAGS.keras_hub_preset:
            pretrained.write_keras_hub_preset(output, FLAGS.keras_hub_preset)
    sizes = {name: os.path.getsize(os.path.join(output, name)) for name in os.listdir(output)
             if os.path.isfile(os.path.join(output, name))}
    print(json.dumps({"output": output, "parameters": config["parameters"], "bytes": sizes,
                      "keras_hub_preset": FLAGS.keras_hub_preset}, indent=2))


if __name__ == "__main__":
    app.run(main)
