"""Stage I as a run: train a `MixedVocabTeacher`, resumably, and export it.

A Stage I run directory holds `flags.json`, `checkpoints/`, `logs/` and, when
training is done, `export/`: `teacher.keras` (the `MixedVocabTeacher`),
`teacher_vocab.txt`, `student_vocab.txt` and `stage1_config.json`. Stage II
reads `export/` through `models.stage1_directory.load_stage1`.
"""

import os

import keras

from mixvocab_tf.models.mixed_vocab_teacher import MixedVocabTeacher
from mixvocab_tf.models.stage1_directory import Stage1Error  # noqa: F401 (re-exported)
from mixvocab_tf.models.stage1_directory import Stage1Teacher  # noqa: F401 (re-exported)
from mixvocab_tf.models.stage1_directory import load_stage1  # noqa: F401 (re-exported)
from mixvocab_tf.models.stage1_directory import save_stage1
from mixvocab_tf.models.teacher_loading import load_teacher
from mixvocab_tf.preprocessing.mixed_vocab_preprocessor import MixedVocabPreprocessor
from mixvocab_tf.stage1.config import Stage1Config
from mixvocab_tf.training.callbacks import ExtraEvaluation
from mixvocab_tf.training.callbacks import PsvRamp
from mixvocab_tf.training.checkpointing import fit_and_export
from mixvocab_tf.training.checkpointing import fit_resumable
from mixvocab_tf.training.config import accepts_keyword_settings
from mixvocab_tf.training.config import flatten_config
from mixvocab_tf.training.optimization import create_optimizer
from mixvocab_tf.training.run_setup import prepare_model_dir
from mixvocab_tf.training.run_setup import set_precision
from mixvocab_tf.training.strategy import get_strategy
from mixvocab_tf.training.text_data import resolve_text_files
from mixvocab_tf.training.text_data import text_line_dataset
from mixvocab_tf.vocab.vocabulary import Vocabulary

# Held-out evaluation mixes both vocabularies evenly (`val_*`), whatever the
# ramp is at, and reads fully student-segmented text (`val_full_sv_*`), which
# is what Stage II feeds the teacher.
EVAL_P_SV = 0.5
FULL_SV_PREFIX = "val_full_sv_"
# The run subdirectory of the new-parameter phase (its checkpoints and logs).
NEW_PARAMETER_PHASE_DIR = "new_parameters"


@accepts_keyword_settings(Stage1Config)
def train_teacher(config, teacher, student_vocab, train_files, model_dir, eval_files=None, *,
                  verbose="auto"):
    """Runs Stage I and writes `model_dir/export`. Resumes a killed run.

    The phases, the p_sv ramp and each setting are described in `Stage1Config`.

    Args:
      config: a `Stage1Config`. (The 0.1 call, every setting a keyword argument after the
        inputs, still works for one release and warns: `accepts_keyword_settings`.)
      teacher: any path `load_teacher` reads (HF, keras-hub preset, Google checkpoint).
      student_vocab: the Stage 0 vocab.txt.
      train_files: text files or globs, one document or sentence a line.
      model_dir: the run directory; `flags.json` there records the inputs and the config
        (`flatten_config`), and a rerun with other settings is refused.
      eval_files: held-out text for per-loop evaluation (`None`: none), scored
        at p_sv 0.5 (`val_*`) and 1.0 (`val_full_sv_*`).
      verbose: `fit` verbosity.

    Returns:
      A dict: the export directory, final metrics and the training history
      (of the joint phase), and `new_parameter_metrics` (of the new-parameter
      phase, when it ran in this call).

    Example:
    >>> config = Stage1Config(training=TrainingConfig(learning_rate=5e-5, train_steps=2000))
    >>> train_teacher(config, "bert_dir", "vocab.txt", ["corpus.txt"], "runs/stage1")
    """
    record = dict(teacher=teacher, student_vocab=student_vocab, train_files=train_files,
                  model_dir=model_dir, eval_files=eval_files, **flatten_config(config))
    training, masking = config.training, config.masking
    new_parameter_steps = config.new_parameter_phase_steps()
    # Fail before training on bad inputs.
    files = resolve_text_files(train_files)
    eval_file_list = resolve_text_files(eval_files) if eval_files else None
    # Multi-worker collectives must be configured before any TensorFlow op runs.
    distribution = get_strategy(training.strategy)
    loaded = load_teacher(teacher)
    student_vocabulary = Vocabulary.load(student_vocab, lower_case=loaded.lower_case)
    prepare_model_dir(model_dir, record)
    set_precision(training.mixed_precision)
    seed = training.seed
    keras.utils.set_random_seed(seed)

    def preprocessor(p_sv, layer_seed):
        return MixedVocabPreprocessor(
            loaded.vocabulary,
            student_vocabulary,
            lower_case=loaded.lower_case,
            sequence_length=training.sequence_length,
            p_sv=p_sv,
            masking_rate=masking.masking_rate,
            max_predictions=masking.max_predictions,
            whole_word_masking=config.whole_word_masking,
            seed=layer_seed,
        )

    train_preprocessor = preprocessor(config.p_sv_start, seed)
    dataset = text_line_dataset(files, training.batch_size, train_preprocessor, seed=seed,
                                pack=masking.pack_lines)
    eval_dataset, callbacks = None, []
    if eval_file_list:
        def held_out(p_sv):
            return text_line_dataset(
                eval_file_list, training.batch_size, preprocessor(p_sv, seed + 1),
                shuffle=False, repeat=True, pack=masking.pack_lines,
            )

        eval_dataset = held_out(EVAL_P_SV)
        callbacks.append(ExtraEvaluation({FULL_SV_PREFIX: held_out(1.0)}, training.eval_steps))
    with distribution.scope():
        # The teacher was loaded outside the scope; rebuild its variables inside it.
        backbone = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(loaded.backbone)
        )
        backbone.set_weights(loaded.backbone.get_weights())
        model = MixedVocabTeacher(
            backbone,
            student_vocabulary_size=student_vocabulary.size,
            student_embedding_dim=config.student_embedding_dim,
            masked_lm_head=loaded.masked_lm_head,
        )
        if config.student_init == "teacher":
            model.initialize_student_table(loaded.vocabulary, student_vocabulary.tokens)
        model(next(iter(dataset)))

    new_parameter_metrics = {}
    if new_parameter_steps:
        with distribution.scope():
            model.set_encoder_trainable(False)
            model.compile(optimizer=create_optimizer(
                config.new_parameter_learning_rate, new_parameter_steps,
                training.warmup_fraction))
            model.optimizer.build(model.trainable_variables)
        history = fit_resumable(
            model,
            dataset,
            new_parameter_steps,
            os.path.join(model_dir, NEW_PARAMETER_PHASE_DIR),
            steps_per_loop=min(training.steps_per_loop, new_parameter_steps),
            eval_dataset=eval_dataset,
            eval_steps=training.eval_steps if eval_dataset is not None else None,
            callbacks=[
                PsvRamp(train_preprocessor.p_sv, 0.0, config.p_sv_end,
                        config.p_sv_ramp_fraction * new_parameter_steps),
                *callbacks,
            ],
            verbose=verbose,
        )
        new_parameter_metrics = {k: float(v[-1]) for k, v in history.history.items() if v}
        if new_parameter_metrics:
            print(f"Stage I new-parameter phase ({new_parameter_steps} steps): "
                  + _format_metrics(new_parameter_metrics))
    with distribution.scope():
        model.set_encoder_trainable(True)
        model.compile(optimizer=create_optimizer(
            training.learning_rate, training.train_steps, training.warmup_fraction))
        model.optimizer.build(model.trainable_variables)
    ramp = PsvRamp(train_preprocessor.p_sv, config.p_sv_start, config.p_sv_end,
                   config.p_sv_ramp_fraction * training.train_steps)

    def write(directory, metrics):
        save_stage1(
            directory, model, Vocabulary(loaded.vocabulary, loaded.lower_case),
            student_vocabulary,
            {
                "lower_case": loaded.lower_case,
                "teacher_vocabulary_size": len(loaded.vocabulary),
                "student_vocabulary_size": student_vocabulary.size,
                "student_embedding_dim": config.student_embedding_dim,
                "sequence_length": training.sequence_length,
                "teacher": str(teacher),
                "train_steps": int(model.optimizer.iterations.numpy()),
                "new_parameter_steps": new_parameter_steps,
                "new_parameter_metrics": new_parameter_metrics,
                "final_metrics": metrics,
            },
        )

    result = fit_and_export(
        model,
        dataset,
        training.train_steps,
        model_dir,
        write,
        steps_per_loop=training.steps_per_loop,
        eval_dataset=eval_dataset,
        eval_steps=training.eval_steps if eval_dataset is not None else None,
        callbacks=[ramp, *callbacks],
        verbose=verbose,
    )
    if result["metrics"]:
        print("Stage I joint phase: " + _format_metrics(result["metrics"]))
    result["new_parameter_metrics"] = new_parameter_metrics
    return result


def _format_metrics(metrics):
    """The masked-LM accuracies of a phase's last loop, as one line."""
    names = [n for n in sorted(metrics) if n.endswith("mlm_accuracy")]
    return ", ".join(f"{n} {metrics[n]:.4f}" for n in names)
