"""Stage II as a run: distil a student from a Stage I export, resumably.

A Stage II run directory holds `flags.json`, `checkpoints/`, `logs/` and, when
training is done, `export/`, the student directory that fine-tuning reads:
`student.keras` (a `StudentEncoder`), `vocab.txt` and `config.json`
(`lower_case`, `sequence_length`, sizes and final metrics).
"""

import json
import os

import keras

from mixvocab_tf.stage2.config import Stage2Config
from mixvocab_tf.stage2.distiller import Distiller
from mixvocab_tf.stage2.distiller import initialize_student_embeddings
from mixvocab_tf.file_io import write_json_atomic
from mixvocab_tf.models.student_encoder import student_size as parse_student_size
from mixvocab_tf.models.stage1_directory import load_stage1
from mixvocab_tf.models.student_directory import StudentDirectoryError  # noqa: F401 (re-exported)
from mixvocab_tf.models.student_directory import load_student_directory  # noqa: F401 (re-exported)
from mixvocab_tf.models.student_directory import save_student_directory
from mixvocab_tf.models.student_encoder import StudentEncoder
from mixvocab_tf.preprocessing.single_vocab_preprocessor import SingleVocabPreprocessor
from mixvocab_tf.training.checkpointing import fit_and_export
from mixvocab_tf.training.config import accepts_keyword_settings
from mixvocab_tf.training.config import flatten_config
from mixvocab_tf.training.optimization import create_optimizer
from mixvocab_tf.training.run_setup import prepare_model_dir
from mixvocab_tf.training.run_setup import set_precision
from mixvocab_tf.training.strategy import get_strategy
from mixvocab_tf.training.strategy import is_chief
from mixvocab_tf.training.text_data import resolve_text_files
from mixvocab_tf.training.text_data import text_line_dataset


# Teacher and student masked-LM accuracy before Stage II's first step.
START_METRICS_FILE = "start_metrics.json"


def build_student(student_vocabulary_size, stage1_embedding_dim, student_size=None, **sizes):
    """A `StudentEncoder` of a named or explicit size, factorised when `d != H`.

    Args:
      student_vocabulary_size: `V_s`.
      stage1_embedding_dim: `d` of the Stage I student table.
      student_size: a name from `STUDENT_SIZES` or any `"LxH"` (`student_size`), or
        `None` for explicit sizes.
      **sizes: `num_layers`, `hidden_dim`, `num_heads`, `intermediate_dim`,
        and any other `StudentEncoder` argument.
    """
    if student_size is not None:
        named = parse_student_size(student_size)
        sizes = {
            "num_layers": named.num_layers,
            "hidden_dim": named.hidden_dim,
            "num_heads": named.num_heads,
            "intermediate_dim": named.intermediate_dim,
            **{k: v for k, v in sizes.items() if v is not None},
        }
    embedding_dim = None if stage1_embedding_dim == sizes["hidden_dim"] else stage1_embedding_dim
    return StudentEncoder(
        vocabulary_size=student_vocabulary_size, embedding_dim=embedding_dim, **sizes
    )


@accepts_keyword_settings(Stage2Config)
def distill_student(config, teacher_dir, train_files, model_dir, eval_files=None, *,
                    verbose="auto"):
    """Runs Stage II and writes the student directory `model_dir/export`.

    Args:
      config: a `Stage2Config`: the student's size, the losses and training. (The 0.1 call,
        every setting a keyword argument after the inputs, still works for one release and
        warns: `accepts_keyword_settings`.)
      teacher_dir: a finished Stage I run directory (`train_teacher`).
      train_files: text files or globs, one document or sentence a line.
      model_dir: the run directory; `flags.json` there records the inputs and the config
        (`flatten_config`), and a rerun with other settings is refused.
      eval_files: held-out text for per-loop evaluation (`None`: none).
      verbose: `fit` verbosity.

    Returns:
      A dict: the export directory, final metrics and the training history.

    Example:
    >>> config = Stage2Config(training=TrainingConfig(learning_rate=5e-4, train_steps=2000))
    >>> distill_student(config, "runs/stage1", ["corpus.txt"], "runs/stage2")
    """
    record = dict(teacher_dir=teacher_dir, train_files=train_files, model_dir=model_dir,
                  eval_files=eval_files, **flatten_config(config))
    training, masking = config.training, config.masking
    files = resolve_text_files(train_files)
    eval_file_list = resolve_text_files(eval_files) if eval_files else None
    # Multi-worker collectives must be configured before any TensorFlow op runs.
    distribution = get_strategy(training.strategy)
    stage1 = load_stage1(teacher_dir)
    vocabulary = stage1.student_vocabulary
    lower_case = stage1.config["lower_case"]
    prepare_model_dir(model_dir, record)
    set_precision(training.mixed_precision)
    seed = training.seed
    keras.utils.set_random_seed(seed)

    def preprocessor(layer_seed):
        return SingleVocabPreprocessor(
            vocabulary,
            lower_case=lower_case,
            sequence_length=training.sequence_length,
            masking_rate=masking.masking_rate,
            max_predictions=masking.max_predictions,
            seed=layer_seed,
        )

    dataset = text_line_dataset(files, training.batch_size, preprocessor(seed), seed=seed,
                                pack=masking.pack_lines)
    eval_dataset = None
    if eval_file_list:
        eval_dataset = text_line_dataset(
            eval_file_list, training.batch_size, preprocessor(seed + 1), shuffle=False,
            repeat=True, pack=masking.pack_lines,
        )
    with distribution.scope():
        teacher = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(stage1.model)
        )
        teacher.set_weights(stage1.model.get_weights())
        student = build_student(
            vocabulary.size,
            stage1.config["student_embedding_dim"],
            config.student_size,
            num_layers=config.num_layers,
            hidden_dim=config.hidden_dim,
            num_heads=config.num_heads,
            intermediate_dim=config.intermediate_dim,
            output_attention_scores=config.attention_weight > 0,
        )
        if config.init_from_teacher:
            initialize_student_embeddings(student, teacher)
        distiller = Distiller(
            teacher,
            student,
            mlm_weight=config.mlm_weight,
            kd_weight=config.kd_weight,
            hidden_weight=config.hidden_weight,
            attention_weight=config.attention_weight,
            temperature=config.temperature,
            projection=config.projection,
        )
        distiller.compile(optimizer=create_optimizer(
            training.learning_rate, training.train_steps, training.warmup_fraction))
        distiller.compute_losses(next(iter(dataset)))
        distiller.optimizer.build(distiller.trainable_variables)
    start_metrics = _start_metrics(
        distiller, eval_dataset if eval_dataset is not None else dataset, training.eval_steps,
        model_dir, "held-out" if eval_dataset is not None else "training")

    def write(directory, metrics):
        save_student_directory(
            directory,
            student,
            vocabulary,
            {
                "lower_case": lower_case,
                "sequence_length": training.sequence_length,
                "student_size": config.student_size,
                "num_layers": student.num_layers,
                "hidden_dim": student.hidden_dim,
                "parameters": int(student.count_params()),
                "teacher_dir": str(teacher_dir),
                "train_steps": int(distiller.optimizer.iterations.numpy()),
                "start_metrics": start_metrics,
                "final_metrics": metrics,
            },
        )

    return fit_and_export(
        distiller,
        dataset,
        training.train_steps,
        model_dir,
        write,
        steps_per_loop=training.steps_per_loop,
        eval_dataset=eval_dataset,
        eval_steps=training.eval_steps if eval_dataset is not None else None,
        verbose=verbose,
    )


def _start_metrics(distiller, dataset, steps, model_dir, source):
    """Teacher and student masked-LM accuracy before the first step, once per run.

    The logit-distillation term only helps while the teacher predicts the
    student vocabulary better than the student does; this records where
    the run starts (`model_dir/start_metrics.json`, reused on resume).
    """
    path = os.path.join(model_dir, START_METRICS_FILE)
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    if not distiller.uses_teacher:
        return {}
    results = distiller.evaluate(dataset, steps=steps, verbose=0, return_dict=True)
    start = {
        "teacher_mlm_accuracy": float(results["teacher_mlm_accuracy"]),
        "student_mlm_accuracy": float(results["mlm_accuracy"]),
        "batches": int(steps),
        "text": source,
    }
    print(f"Stage II start ({steps} {source} batches): teacher masked-LM accuracy on "
          f"student-segmented text {start['teacher_mlm_accuracy']:.4f}, "
          f"student {start['student_mlm_accuracy']:.4f}")
    if is_chief():
        write_json_atomic(path, start)
    return start
