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
from mixvocab_tf.training.callbacks import ExtraEvaluation
from mixvocab_tf.training.callbacks import PsvRamp
from mixvocab_tf.training.checkpointing import fit_and_export
from mixvocab_tf.training.checkpointing import fit_resumable
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


def train_teacher(
    teacher,
    student_vocab,
    train_files,
    model_dir,
    eval_files=None,
    p_sv_start=0.1,
    p_sv_end=1.0,
    p_sv_ramp_fraction=0.6,
    student_embedding_dim=128,
    student_init="teacher",
    new_parameter_steps=None,
    new_parameter_learning_rate=1e-3,
    sequence_length=128,
    batch_size=32,
    train_steps=10_000,
    steps_per_loop=500,
    eval_steps=20,
    learning_rate=5e-5,
    warmup_fraction=0.1,
    masking_rate=0.15,
    max_predictions=20,
    whole_word_masking=False,
    pack_lines=True,
    strategy="default",
    mixed_precision=None,
    seed=0,
    verbose="auto",
):
    """Runs Stage I and writes `model_dir/export`. Resumes a killed run.

    Training has up to two phases. The new-parameter phase
    (`new_parameter_steps > 0`) trains only what the checkpoint did not
    provide (`E_s`, `P`, the MLM head) with the encoder frozen, at its own
    higher rate, while p_sv ramps from 0 to `p_sv_end`: a teacher without an
    MLM head (all-MiniLM-L6-v2, any sentence-embedding BERT) otherwise sends
    random-head gradients into the very layers Stage II copies. The joint
    phase then trains everything for `train_steps` at `learning_rate`.

    Args:
      teacher: any path `load_teacher` reads (HF, keras-hub preset, Google checkpoint).
      student_vocab: the Stage 0 vocab.txt.
      train_files: text files or globs, one document or sentence a line.
      model_dir: the run directory.
      eval_files: held-out text for per-loop evaluation (`None`: none), scored
        at p_sv 0.5 (`val_*`) and 1.0 (`val_full_sv_*`).
      p_sv_start, p_sv_end: the joint phase's linear p_sv ramp.
      p_sv_ramp_fraction: share of each phase's steps after which p_sv holds
        at `p_sv_end`, so the teacher trains on fully student-segmented text
        while its learning rate is still high (a ramp over all steps ends
        where cosine decay has brought the rate to zero).
      student_embedding_dim: `d`, the student table width (the student's
        hidden size or its factorised embedding width).
      student_init: `"teacher"` starts `E_s P` at a rank-`d` fit of the
        teacher's embeddings of each student token (see
        `student_table_from_teacher`); `"random"` is the paper's random start.
      new_parameter_steps: steps of the new-parameter phase (0: none; `None`:
        `train_steps // 2`, a third of the whole budget). Measured on MiniLM
        (`benchmarks/stage_defaults.py`, 300 steps in all, L=64, Wikipedia):
        held-out teacher accuracy on fully student-segmented text 8.07% with
        100 + 200 steps against 5.42% with 300 joint steps, at 10% less CPU.
      new_parameter_learning_rate: its AdamW peak rate.
      sequence_length, batch_size, train_steps, steps_per_loop, eval_steps:
        sizes; `batch_size` is global (split over replicas).
      learning_rate, warmup_fraction: the joint phase's AdamW peak rate and
        warm-up share.
      masking_rate, max_predictions, whole_word_masking: MLM masking.
      pack_lines: join consecutive lines of a file into sequences of about
        `sequence_length` tokens (`text_line_dataset`); `False`: a line a sequence.
      strategy: `default|mirrored|multi_worker|tpu`.
      mixed_precision: `None`, `"mixed_float16"` or `"mixed_bfloat16"`.
      seed: masking, word choice and shuffling seed.
      verbose: `fit` verbosity.

    Returns:
      A dict: the export directory, final metrics and the training history
      (of the joint phase), and `new_parameter_metrics` (of the new-parameter
      phase, when it ran in this call).
    """
    config = {k: v for k, v in locals().items() if k != "verbose"}
    if not 0.0 < p_sv_ramp_fraction <= 1.0:
        raise ValueError(f"p_sv_ramp_fraction={p_sv_ramp_fraction} must be in (0, 1].")
    if new_parameter_steps is None:
        new_parameter_steps = train_steps // 2
    if new_parameter_steps < 0:
        raise ValueError(f"new_parameter_steps={new_parameter_steps} must be >= 0.")
    # Fail before training on bad inputs.
    files = resolve_text_files(train_files)
    eval_file_list = resolve_text_files(eval_files) if eval_files else None
    # Multi-worker collectives must be configured before any TensorFlow op runs.
    distribution = get_strategy(strategy)
    loaded = load_teacher(teacher)
    student_vocabulary = Vocabulary.load(student_vocab, lower_case=loaded.lower_case)
    prepare_model_dir(model_dir, config)
    set_precision(mixed_precision)
    keras.utils.set_random_seed(seed)

    def preprocessor(p_sv, layer_seed):
        return MixedVocabPreprocessor(
            loaded.vocabulary,
            student_vocabulary,
            lower_case=loaded.lower_case,
            sequence_length=sequence_length,
            p_sv=p_sv,
            masking_rate=masking_rate,
            max_predictions=max_predictions,
            whole_word_masking=whole_word_masking,
            seed=layer_seed,
        )

    train_preprocessor = preprocessor(p_sv_start, seed)
    dataset = text_line_dataset(files, batch_size, train_preprocessor, seed=seed, pack=pack_lines)
    eval_dataset, callbacks = None, []
    if eval_file_list:
        def held_out(p_sv):
            return text_line_dataset(
                eval_file_list, batch_size, preprocessor(p_sv, seed + 1), shuffle=False,
                repeat=True, pack=pack_lines,
            )

        eval_dataset = held_out(EVAL_P_SV)
        callbacks.append(ExtraEvaluation({FULL_SV_PREFIX: held_out(1.0)}, eval_steps))
    with distribution.scope():
        # The teacher was loaded outside the scope; rebuild its variables inside it.
        backbone = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(loaded.backbone)
        )
        backbone.set_weights(loaded.backbone.get_weights())
        model = MixedVocabTeacher(
            backbone,
            student_vocabulary_size=student_vocabulary.size,
            student_embedding_dim=student_embedding_dim,
            masked_lm_head=loaded.masked_lm_head,
        )
        if student_init == "teacher":
            model.initialize_student_table(loaded.vocabulary, student_vocabulary.tokens)
        elif student_init != "random":
            raise ValueError(f"student_init={student_init!r}; choose 'teacher' or 'random'.")
        model(next(iter(dataset)))

    new_parameter_metrics = {}
    if new_parameter_steps:
        with distribution.scope():
            model.set_encoder_trainable(False)
            model.compile(optimizer=create_optimizer(
                new_parameter_learning_rate, new_parameter_steps, warmup_fraction))
            model.optimizer.build(model.trainable_variables)
        history = fit_resumable(
            model,
            dataset,
            new_parameter_steps,
            os.path.join(model_dir, NEW_PARAMETER_PHASE_DIR),
            steps_per_loop=min(steps_per_loop, new_parameter_steps),
            eval_dataset=eval_dataset,
            eval_steps=eval_steps if eval_dataset is not None else None,
            callbacks=[
                PsvRamp(train_preprocessor.p_sv, 0.0, p_sv_end,
                        p_sv_ramp_fraction * new_parameter_steps),
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
        model.compile(optimizer=create_optimizer(learning_rate, train_steps, warmup_fraction))
        model.optimizer.build(model.trainable_variables)
    ramp = PsvRamp(train_preprocessor.p_sv, p_sv_start, p_sv_end, p_sv_ramp_fraction * train_steps)

    def write(directory, metrics):
        save_stage1(
            directory, model, Vocabulary(loaded.vocabulary, loaded.lower_case),
            student_vocabulary,
            {
                "lower_case": loaded.lower_case,
                "teacher_vocabulary_size": len(loaded.vocabulary),
                "student_vocabulary_size": student_vocabulary.size,
                "student_embedding_dim": student_embedding_dim,
                "sequence_length": sequence_length,
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
        train_steps,
        model_dir,
        write,
        steps_per_loop=steps_per_loop,
        eval_dataset=eval_dataset,
        eval_steps=eval_steps if eval_dataset is not None else None,
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
