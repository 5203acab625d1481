"""Export-time quantization-aware training (QAT) for full_int8, in Keras 3.

Why not tensorflow-model-optimization: `tfmot.quantization.keras.quantize_model` wraps
tf_keras (Keras 2) layers only and rejects Keras 3 models, and our encoders (keras-hub
`TransformerEncoder`, `StudentEncoder`) are Keras 3. So the fake-quant ops are put into the
Keras 3 graph directly, at the tensors the TFLite converter quantizes:

* every `Dense` / `EinsumDense` input and output: `tf.quantization.
  fake_quant_with_min_max_vars` (asymmetric 8-bit, TFLite's int8 activation scheme) with a
  range per tensor, first calibrated (min / max over a few batches, as the converter's
  calibrator does), then tracked by an exponential moving average of the batch min / max
  during training (straight-through gradients);
* every kernel: symmetric per-channel int8 ([-127, 127], scale = max |w| / 127 per output
  channel), TFLite's weight scheme, with a straight-through estimator;
* the attention scores (after the bounded mask of `attention_mask.py`, which the exported
  graph uses too): per-tensor fake-quant, as the int8 BATCH_MATMUL output;
* the pre-activation output of a Dense with an activation (the FC output before GELU);
* optionally (`quantize_layer_norm=True`) LayerNorm written out as the ops the converter
  emits (mean, squared difference, variance, rsqrt) with its input (= the residual add),
  internals and output fake-quantised (QUANTIZATION.md: it breaks MiniLM).

The exported graph keeps the activation fake-quant ops with the learned ranges as
constants; the TFLite converter folds a `FakeQuantWithMinMaxVars` into the quantization
parameters of the tensor it follows (checked by `folded_ranges` on every export), and
calibrates the remaining tensors (LayerNorm internals, residual adds, GELU) on the
representative data as in post-training quantization. Kernels are exported as plain float
weights: the converter's own per-channel quantization of them equals the fake-quant above.

Example:
>>> qat = QuantizationAwareTraining(task_model, sequence_length=64)
>>> qat.fit(train_examples, steps=200)
>>> with qat.fake_quantized():
...     saved_model_dir = ServingModule(task_model, "ids", 64, 16.0).save(path)
"""

import contextlib
import functools
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from mixvocab_tf.export.attention_mask import DEFAULT_MARGIN
from mixvocab_tf.export.attention_mask import attention_layers
from mixvocab_tf.export.attention_mask import bounded_masked_attention
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks.inputs import InputEncoder

DEFAULT_LEARNING_RATE = 2e-5
DEFAULT_BATCH_SIZE = 32
DEFAULT_EMA_DECAY = 0.99
CALIBRATION_BATCHES = 4


def _ste(x, quantized):
    """`quantized` forward, identity gradient (straight-through estimator)."""
    return x + tf.stop_gradient(quantized - x)


def fake_quant_kernel(kernel, channel_axes):
    """Symmetric per-channel int8 fake-quant of a kernel ([-127, 127], as TFLite's weights).

    Args:
      kernel: a float tensor.
      channel_axes: the kernel axes that index output channels (one scale each).
    """
    reduce_axes = [a for a in range(len(kernel.shape)) if a not in channel_axes]
    scale = tf.reduce_max(tf.abs(kernel), axis=reduce_axes, keepdims=True) / 127.0
    scale = tf.maximum(scale, 1e-12)
    return _ste(kernel, tf.clip_by_value(tf.round(kernel / scale), -127.0, 127.0) * scale)


def kernel_channel_axes(layer):
    """The output-channel axes of a `Dense` (last) or `EinsumDense` kernel (in the output)."""
    if isinstance(layer, keras.layers.EinsumDense):
        spec = layer.equation.replace(" ", "")
        kernel_spec = spec.split(",")[1].split("->")[0]
        output_spec = spec.split("->")[1]
        return [i for i, c in enumerate(kernel_spec) if c in output_spec]
    return [len(layer.kernel.shape) - 1]


class QuantizationAwareTraining:
    """Fake-quantises a task model's int8 tensors, learns their ranges, fine-tunes it.

    The model is patched only inside `fake_quantized()` (its layers' `call` are shadowed by
    instance attributes, as `attention_mask.py` does); its saved form does not change.
    `fit` trains the model's weights in place: pass a copy of the float model.

    Args:
      task_model: a loaded `TaskModel` (classification).
      sequence_length: L used for training (the exported L).
      attention_mask_margin: the bounded mask of the exported full_int8 graph.
      ema_decay: decay of the moving average of each tensor's batch min / max.
      quantize_attention_scores: also fake-quantise the masked attention scores.
      quantize_layer_norm: also compute LayerNorm as TFLite does (mean, squared difference,
        variance, rsqrt) with its input, internals and output fake-quantised. Off by
        default: on MiniLM (LayerNorm inputs up to ~220 in outlier dimensions) the int8
        variance (step 0.5) rounds most rows to 0, rsqrt(eps) = 1e6 sets the next ranges
        and the int8 interpreter aborts; the students gain nothing from it.
    """

    def __init__(self, task_model, sequence_length, attention_mask_margin=DEFAULT_MARGIN,
                 ema_decay=DEFAULT_EMA_DECAY, quantize_attention_scores=True,
                 quantize_layer_norm=False):
        if task_model.task_type != task_registry.CLASSIFICATION:
            raise ValueError(
                f"QAT supports classification task models, got {task_model.task_type!r}. "
                "Fix: export without qat_steps (post-training full_int8).")
        if not attention_mask_margin or attention_mask_margin <= 0:
            raise ValueError("QAT trains with the bounded attention mask: pass a margin > 0.")
        self.task_model = task_model
        self.model = task_model.model
        self.sequence_length = int(sequence_length)
        self.margin = float(attention_mask_margin)
        self.ema_decay = float(ema_decay)
        self.quantize_attention_scores = quantize_attention_scores
        self.quantize_layer_norm = quantize_layer_norm
        self.ranges = {}  # name -> (min tf.Variable, max tf.Variable)
        self.mode = "quantize"  # "calibrate" | "train" | "quantize"
        self.history = {}
        self._frozen = {}
        self._produced = {}  # tensor ref -> its fake-quant output, in the current trace

    # ---- fake-quant points -------------------------------------------------------------

    def _range(self, name, x):
        if name not in self.ranges:
            if tf.inside_function():
                raise RuntimeError(f"fake-quant range {name} is new inside a tf.function: "
                                   "calibrate eagerly first.")
            self.ranges[name] = (tf.Variable(tf.reduce_min(x), trainable=False),
                                 tf.Variable(tf.reduce_max(x), trainable=False))
        return self.ranges[name]

    def activation(self, name, x):
        """Fake-quantises activation `x` at point `name` (updates its range if training)."""
        x32 = tf.cast(x, tf.float32)
        low, high = self._range(name, x32)
        if self.mode == "quantize":  # Constants: the exported graph carries no range variable.
            low, high = self._frozen[name]
            out = tf.cast(tf.quantization.fake_quant_with_min_max_vars(
                x32, low, high, num_bits=8, narrow_range=False), x.dtype)
        elif self.mode == "calibrate":  # The converter's calibrator: global min / max.
            low.assign(tf.minimum(low, tf.reduce_min(x32)))
            high.assign(tf.maximum(high, tf.reduce_max(x32)))
            out = x
        else:
            d = self.ema_decay
            low.assign(d * low + (1.0 - d) * tf.reduce_min(x32))
            high.assign(d * high + (1.0 - d) * tf.reduce_max(x32))
            # TFLite needs 0 inside the range (zero point in [-128, 127]).
            out = tf.cast(tf.quantization.fake_quant_with_min_max_vars(
                x32, tf.minimum(low, 0.0), tf.maximum(high, 0.0), num_bits=8,
                narrow_range=False), x.dtype)
        # Later layer inputs that are `x` or `out` reuse `out` (one range a tensor).
        self._produced[x.ref()] = out
        self._produced[out.ref()] = out
        return out

    def _input(self, name, x):
        """A layer input, fake-quantised once: a tensor already fake-quantised (the GELU
        output feeding the next Dense, the LayerNorm output feeding q, k and v) reuses that
        fake-quant output. A second fake-quant with its own range on one tensor puts a
        requantisation (or, around a RESHAPE, a same-scale violation the converter
        rejects: text form) into the graph."""
        if hasattr(x, "ref") and x.ref() in self._produced:
            return self._produced[x.ref()]
        return self.activation(name, x)

    def _dense_call(self, layer, inputs, training=None):
        del training
        name = layer.path
        x = self._input(f"{name}/input", inputs)
        kernel = layer.kernel
        if self.mode != "calibrate":
            kernel = fake_quant_kernel(tf.convert_to_tensor(kernel), kernel_channel_axes(layer))
        if isinstance(layer, keras.layers.EinsumDense):
            x = ops.einsum(layer.equation, x, kernel)
        else:
            x = ops.matmul(x, kernel)
        if layer.bias is not None:
            x = ops.add(x, layer.bias)
        if layer.activation is not None and layer.activation is not keras.activations.linear:
            # TFLite keeps the FC output and the activation (GELU) output as two int8 tensors.
            x = layer.activation(self.activation(f"{name}/preactivation", x))
        return self.activation(f"{name}/output", x)

    def _layer_norm_call(self, layer, inputs):
        """LayerNorm as the converter emits it (MEAN, SQUARED_DIFFERENCE, MEAN, RSQRT, MUL,
        ADD), each int8 tensor fake-quantised: PTQ's largest error in a 384-wide encoder
        is the squared-difference / variance range (MiniLM: 0..1541)."""
        if layer.rms_scaling:  # Not the layout this mirrors: Keras' own op.
            return ops.cast(ops.layer_normalization(
                inputs, layer.gamma, layer.beta, layer.axis, layer.epsilon,
                rms_scaling=layer.rms_scaling), layer.compute_dtype)
        name = layer.path
        x = tf.cast(self._input(f"{name}/input", inputs), tf.float32)
        axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        mean = tf.reduce_mean(x, axis=axes, keepdims=True)
        squared = self.activation(f"{name}/squared_difference",
                                  tf.math.squared_difference(x, mean))
        variance = self.activation(f"{name}/variance",
                                   tf.reduce_mean(squared, axis=axes, keepdims=True))
        inverse = self.activation(f"{name}/rsqrt", tf.math.rsqrt(variance + layer.epsilon))
        y = (x - mean) * inverse
        if layer.gamma is not None:
            y = y * tf.cast(layer.gamma, tf.float32)
        if layer.beta is not None:
            y = y + tf.cast(layer.beta, tf.float32)
        return tf.cast(self.activation(f"{name}/output", y), layer.compute_dtype)

    def _attention(self, layer, query, key, value, attention_mask=None, training=None,
                   return_attention_scores=False, use_causal_mask=False):
        """`attention_mask.bounded_masked_attention` with fake-quantised scores."""
        if use_causal_mask:
            raise ValueError("QAT supports encoder (non-causal) attention.")
        return bounded_masked_attention(
            layer, self.margin, query, key, value, attention_mask, training,
            return_attention_scores,
            scores_hook=lambda scores: self.activation(f"{layer.path}/scores", scores))

    @contextlib.contextmanager
    def fake_quantized(self, mode="quantize"):
        """Within the block the model runs with fake-quant ops and the bounded mask.

        Args:
          mode: "calibrate" (record min / max, no quantization), "train" (moving-average
            ranges + fake-quant) or "quantize" (fake-quant with the learned ranges: the
            graph to export).
        """
        if mode not in ("calibrate", "train", "quantize"):
            raise ValueError(f"mode must be calibrate, train or quantize, got {mode!r}.")
        dense = [l for l in self.model._flatten_layers(include_self=True, recursive=True)  # pylint: disable=protected-access
                 if isinstance(l, (keras.layers.Dense, keras.layers.EinsumDense))]
        attention = attention_layers(self.model)
        patched = [(l, "call", functools.partial(self._dense_call, l)) for l in dense]
        if self.quantize_layer_norm:
            patched += [(l, "call", functools.partial(self._layer_norm_call, l))
                        for l in self.model._flatten_layers(include_self=True, recursive=True)  # pylint: disable=protected-access
                        if isinstance(l, keras.layers.LayerNormalization)]
        patched += [(l, "_compute_attention", functools.partial(self._attention, l))
                    if self.quantize_attention_scores else
                    (l, "_compute_attention", functools.partial(bounded_masked_attention, l, self.margin))
                    for l in attention]
        for layer, attribute, function in patched:
            if attribute in vars(layer):
                raise RuntimeError(f"{layer.name}.{attribute} is already patched (nested use?).")
        previous, frozen = self.mode, self._frozen
        self.mode = mode
        self._frozen = self.learned_ranges()  # Read eagerly: traces use them as constants.
        self._produced = {}
        for layer, attribute, function in patched:
            object.__setattr__(layer, attribute, function)
        try:
            yield len(patched)
        finally:
            self.mode, self._frozen = previous, frozen
            self._produced = {}
            for layer, attribute, _ in patched:
                object.__delattr__(layer, attribute)

    # ---- training ----------------------------------------------------------------------

    def _features(self, examples):
        encoder = InputEncoder(self.task_model.vocabulary, self.task_model.lower_case,
                               self.sequence_length)
        index = {label: i for i, label in enumerate(self.task_model.labels)}
        keep = [i for i, label in enumerate(examples.labels) if label in index]
        if not keep:
            raise ValueError("no training example has a label of the model.")
        features = encoder.encode_texts([examples.texts[i] for i in keep])
        labels = np.array([index[examples.labels[i]] for i in keep], np.int32)
        return features, labels

    def calibrate(self, features, batch_size=DEFAULT_BATCH_SIZE, batches=CALIBRATION_BATCHES):
        """Initial ranges: min / max of every point over a few float batches (eager)."""
        with self.fake_quantized("calibrate"):
            for b in range(batches):
                batch = {k: v[b * batch_size:(b + 1) * batch_size] for k, v in features.items()}
                if len(batch["token_ids"]):
                    self.model(batch, training=False)
        return len(self.ranges)

    def fit(self, examples, steps, learning_rate=DEFAULT_LEARNING_RATE,
            batch_size=DEFAULT_BATCH_SIZE, seed=0):
        """Calibrates the ranges, then fine-tunes `steps` batches with fake-quant.

        Args:
          examples: the task's training `Examples` (texts and labels).
          steps: optimizer steps (>= 1).
          learning_rate: Adam's learning rate (constant; QAT only adapts the weights).
          batch_size: examples a step.
          seed: example order.

        Returns:
          A dict of the run (steps, first and last loss, points, seconds).
        """
        if int(steps) < 1:
            raise ValueError(f"QAT steps must be >= 1, got {steps}.")
        started = time.time()
        rng = np.random.RandomState(seed)
        needed = min(len(examples), int(steps) * batch_size)
        chosen = np.sort(rng.permutation(len(examples))[:needed])
        features, labels = self._features(examples.select(chosen))
        points = self.calibrate(features, batch_size)
        optimizer = keras.optimizers.Adam(learning_rate)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        # Variables the loss reaches (e.g. not an unused pooler under mean pooling).
        variables = self._used_variables(features, loss_fn)
        optimizer.build(variables)

        @tf.function
        def step(batch, gold):
            with tf.GradientTape() as tape:
                logits = tf.cast(self.model(batch, training=False), tf.float32)
                loss = loss_fn(gold, logits)
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))
            return loss

        losses = []
        n = len(labels)
        order = rng.permutation(n)
        with self.fake_quantized("train"):
            for s in range(int(steps)):
                if (s * batch_size) % n + batch_size > n:
                    order = rng.permutation(n)
                begin = (s * batch_size) % n
                idx = order[begin:begin + batch_size]
                batch = {k: tf.constant(v[idx]) for k, v in features.items()}
                losses.append(float(step(batch, tf.constant(labels[idx]))))
        self.history = {
            "steps": int(steps), "batch_size": int(batch_size),
            "learning_rate": float(learning_rate), "examples": int(n),
            "ema_decay": self.ema_decay, "fake_quant_points": points,
            "first_loss": losses[0], "last_loss": float(np.mean(losses[-10:])),
            "seconds": round(time.time() - started, 2)}
        return self.history

    def _used_variables(self, features, loss_fn):
        batch = {k: tf.constant(v[:2]) for k, v in features.items()}
        with tf.GradientTape() as tape:
            logits = tf.cast(self.model(batch, training=False), tf.float32)
            loss = loss_fn(tf.zeros([len(batch["token_ids"])], tf.int32), logits)
        variables = self.model.trainable_variables
        grads = tape.gradient(loss, variables)
        return [v for v, g in zip(variables, grads) if g is not None]

    def learned_ranges(self):
        """{point: (min, max)} as exported (0 included)."""
        return {k: (min(float(lo.numpy()), 0.0), max(float(hi.numpy()), 0.0))
                for k, (lo, hi) in self.ranges.items()}

    def predict(self, features, batch_size=64):
        """Logits of the fake-quantised model (NumPy)."""
        out = []
        with self.fake_quantized("quantize"):
            call = tf.function(lambda b: self.model(b, training=False))
            for i in range(0, len(features["token_ids"]), batch_size):
                out.append(np.asarray(call({k: tf.constant(v[i:i + batch_size])
                                            for k, v in features.items()}), np.float32))
        return np.concatenate(out)


def _nudged(low, high):
    """`fake_quant_with_min_max_vars`' nudged range (8 bits, [0, 255])."""
    scale = (high - low) / 255.0
    if scale <= 0:
        return low, high
    zero = np.clip(np.round(-low / scale), 0, 255)
    return -zero * scale, (255 - zero) * scale


def folded_ranges(ranges, interpreter):
    """How many learned ranges the converted model carries as a tensor's int8 range.

    Args:
      ranges: {point: (min, max)} (`QuantizationAwareTraining.learned_ranges`).
      interpreter: a TFLite interpreter of the converted model.

    Returns:
      {"points": N, "folded": how many match a per-tensor int8 range of the model to a
      tenth of a quantization step, "max_relative_error": of the matched ones,
      "not_folded": the other points' names}.
    """
    tflite = []
    for detail in interpreter.get_tensor_details():
        params = detail["quantization_parameters"]
        if np.dtype(detail["dtype"]) == np.int8 and len(params["scales"]) == 1:
            s, z = float(params["scales"][0]), int(params["zero_points"][0])
            tflite.append((s * (-128 - z), s * (127 - z), s))
    tflite = np.array(tflite) if tflite else np.zeros((0, 3))
    folded, errors, unfolded = 0, [], []
    for name, (low, high) in ranges.items():
        nlow, nhigh = _nudged(low, high)
        step = (nhigh - nlow) / 255.0
        if not len(tflite) or step <= 0:
            continue
        distance = np.maximum(np.abs(tflite[:, 0] - nlow), np.abs(tflite[:, 1] - nhigh))
        best = int(np.argmin(distance))
        if distance[best] <= 0.1 * step:
            folded += 1
            errors.append(distance[best] / max(nhigh - nlow, 1e-12))
        else:
            unfolded.append(name)
    return {"points": len(ranges), "folded": folded,
            "max_relative_error": float(max(errors)) if errors else None,
            "not_folded": unfolded}


def qat_report(qat, runner, eval_examples=None):
    """The `export_report.json` "qat" entry: the run, the folded ranges, eval accuracy of
    the Keras fake-quant model (and the TFLite-vs-fake-quant agreement)."""
    report = dict(qat.history)
    report["ranges"] = folded_ranges(qat.learned_ranges(), runner.interpreter)
    if eval_examples is not None:
        features, gold = qat._features(eval_examples)  # pylint: disable=protected-access
        logits = qat.predict(features)
        tflite = np.concatenate([
            (runner.run_text([eval_examples.texts[i] for i in range(b, min(b + 64, len(gold)))])
             if runner.input_form == "text" else
             runner.run_ids({k: v[b:b + 64] for k, v in features.items()}))["logits"]
            for b in range(0, len(gold), 64)])
        report["eval"] = {
            "examples": int(len(gold)),
            "keras_fake_quant_accuracy": float(np.mean(logits.argmax(-1) == gold)),
            "tflite_vs_fake_quant_agreement": float(np.mean(
                logits.argmax(-1) == tflite.argmax(-1))),
            "tflite_vs_fake_quant_max_abs_logit_diff": float(np.max(np.abs(logits - tflite)))}
    return report
