"""Distribution strategy selection: a flag, not a code change."""

import json
import os

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def get_strategy(name="default", tpu_address=None):
    """Returns the `tf.distribute.Strategy` named by a `--strategy` flag.

    Args:
      name: `"default"` (one device), `"mirrored"` (all local GPUs, or the
        logical CPUs), `"multi_worker"` (reads `TF_CONFIG`), or `"tpu"`.
      tpu_address: the TPU name or `grpc://` address for `"tpu"`; `None`
        lets the resolver find the local TPU.

    Returns:
      A `tf.distribute.Strategy`; build and compile models in its `scope()`.

    Example:
    ```python
    strategy = get_strategy("mirrored")
    with strategy.scope():
        model = build_model()
        model.compile(optimizer="adamw")
    ```
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")


def is_chief():
    """True unless this process is a non-chief worker of a multi-worker cluster.

    The chief (the `chief` task, or worker 0 when there is none) writes the run
    directory; the other workers write their copies of checkpoints and logs to
    a scratch directory, as multi-worker saving requires every worker to save.
    """
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    has_chief = bool(config.get("cluster", {}).get("chief"))
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and not has_chief
