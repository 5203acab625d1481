"""tf.distribute: mirrored on two logical CPUs, and two multi-worker processes.

Devices must be configured before TensorFlow starts, so each case runs in a
fresh process.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# One step of Stage I, of Stage II and of the sentence-embedding Stage II on one
# global batch, on the default strategy and on MirroredStrategy over two logical
# CPUs, from equal weights.
MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from mixvocab_tf.stage2.distiller import Distiller
    from mixvocab_tf.stage2.sentence_embedding import SentenceEmbeddingDistiller
    from mixvocab_tf.models.mixed_vocab_teacher import MixedVocabTeacher
    from mixvocab_tf.models.student_encoder import StudentEncoder
    from mixvocab_tf.models.teacher_loading import load_teacher
    from mixvocab_tf.preprocessing import MixedVocabPreprocessor, SingleVocabPreprocessor

    args = json.loads(sys.argv[1])
    teacher = load_teacher(args["teacher_dir"])
    lines = open(args["train_file"]).read().split("\\n")[:8]
    mixed = MixedVocabPreprocessor(teacher.vocabulary, args["student_vocab"], sequence_length=32,
                                   p_sv=0.5, masking_rate=0.15, max_predictions=6, seed=4)(lines)
    single = SingleVocabPreprocessor(args["student_vocab"], sequence_length=32, masking_rate=0.15,
                                     max_predictions=6, seed=4)(lines)
    v_s = int(mixed["token_ids"].numpy().max()) + 1  # any size above every id

    def stage1():
        config = dict(teacher.backbone.get_config(), dropout=0.0)
        backbone = type(teacher.backbone).from_config(config)
        backbone.set_weights(teacher.backbone.get_weights())
        return MixedVocabTeacher(backbone, 500, student_embedding_dim=8,
                                 masked_lm_head=teacher.masked_lm_head)

    def stage2():
        student = StudentEncoder(vocabulary_size=500, num_layers=2, hidden_dim=16, num_heads=2,
                                 intermediate_dim=32, embedding_dim=8, dropout=0.0,
                                 max_sequence_length=64)
        return Distiller(stage1(), student, attention_weight=0.0)

    def sentence():
        student = StudentEncoder(vocabulary_size=500, num_layers=2, hidden_dim=16, num_heads=2,
                                 intermediate_dim=32, dropout=0.0, max_sequence_length=64)
        return SentenceEmbeddingDistiller(student, teacher_dim=8)

    # int32, as `encode_texts` gives the sentence objective its inputs.
    encoder_inputs = {k: tf.cast(single[k], tf.int32)
                      for k in ("token_ids", "segment_ids", "padding_mask")}
    targets = np.random.RandomState(0).randn(len(lines), 8).astype("float32")

    def step(strategy, build, batch):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            model = build()
            if isinstance(model, SentenceEmbeddingDistiller):
                model.compile(optimizer=keras.optimizers.SGD(0.5),
                              loss=keras.losses.CosineSimilarity())
                model(batch[0])
            else:
                model.compile(optimizer=keras.optimizers.SGD(0.5))
            if isinstance(model, Distiller):
                model.compute_losses(batch)
            elif not isinstance(model, SentenceEmbeddingDistiller):
                model(batch)
            model.optimizer.build(model.trainable_variables)
        history = model.fit(tf.data.Dataset.from_tensors(batch), verbose=0)
        return float(history.history["loss"][0]), model.trainable_variables

    result = {}
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored.num_replicas_in_sync == 2
    for name, build, batch in (("stage1", stage1, mixed), ("stage2", stage2, single),
                               ("sentence", sentence, (encoder_inputs, targets))):
        loss_one, vars_one = step(tf.distribute.get_strategy(), build, batch)
        loss_two, vars_two = step(mirrored, build, batch)
        diff = max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(vars_one, vars_two))
        result[name] = {"loss_one": loss_one, "loss_two": loss_two, "max_weight_diff": diff}
    print("RESULT" + json.dumps(result))
    """
)


def _run(script, args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-c", script, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {})),
    )


def _result(completed):
    assert completed.returncode == 0, completed.stderr[-4000:]
    line = [l for l in completed.stdout.splitlines() if l.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])


def test_mirrored_two_devices_match_one_device(tiny_stage_inputs):
    result = _result(_run(MIRRORED_SCRIPT, tiny_stage_inputs))
    for stage in ("stage1", "stage2", "sentence"):
        r = result[stage]
        # Stated tolerance: float32 reduction order only.
        assert r["loss_two"] == pytest.approx(r["loss_one"], rel=1e-5), (stage, r)
        assert r["max_weight_diff"] < 1e-5, (stage, r)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow  # two worker processes: 20-35 s on 2 cores; the mirrored test stays default
def test_multi_worker_two_processes_train_stage1(tiny_stage_inputs, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    model_dir = str(tmp_path / "stage1")
    args = [
        sys.executable, os.path.join(REPO, "tools", "train_teacher.py"),
        f"--teacher={tiny_stage_inputs['teacher_dir']}",
        f"--student_vocab={tiny_stage_inputs['student_vocab']}",
        f"--train_files={tiny_stage_inputs['train_file']}",
        f"--model_dir={model_dir}", "--strategy=multi_worker",
        "--train_steps=6", "--steps_per_loop=3", "--batch_size=8", "--sequence_length=32",
        "--student_embedding_dim=8",
    ]
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_CONFIG=tf_config)
        workers.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=env))
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=240)[0])
    finally:
        for worker in workers:
            worker.kill()
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-4000:]
    # Only the chief (worker 0) writes the run directory.
    with open(os.path.join(model_dir, "export", "stage1_config.json")) as f:
        config = json.load(f)
    assert config["train_steps"] == 6
    assert np.isfinite(config["final_metrics"]["loss"])
