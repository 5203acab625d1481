"""Median latency of one query through an exported model.

Example:
>>> median_latency_ms(tflite_bytes, "text", "play some jazz", num_threads=1)
1.4
"""

import time

import numpy as np

from mixvocab_tf.export.runtime import TFLiteRunner
from mixvocab_tf.export.serving import ID_INPUTS


def median_latency_ms(model, query, num_threads=1, runs=50, warmup=5):
    """Median wall time (ms) of one `serving_default` call, batch 1.

    Args:
      model: .tflite path or bytes.
      query: a str for the text form; a dict of int32 [1, L] arrays for the ids form.
      num_threads: interpreter threads.
      runs, warmup: timed and untimed calls.
    """
    runner = TFLiteRunner(model, num_threads=num_threads)
    if runner.input_form == "text":
        feed = {"text": np.array([query], dtype=object)}
    else:
        feed = {k: np.asarray(query[k], np.int32).reshape(1, -1) for k in ID_INPUTS}
    for _ in range(warmup):
        runner.runner(**feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.runner(**feed)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)
