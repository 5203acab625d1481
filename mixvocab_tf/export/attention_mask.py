"""A bounded attention mask for int8 activations.

Keras' `MultiHeadAttention` masks padded keys by replacing their scores with -1e9 (its
`Softmax` layer; the fused `dot_product_attention` path uses -0.7 * float32 max). Full
integer quantization calibrates one scale per activation tensor from its min and max, so
the masked-score tensor gets a range of ~1e9 and every real score rounds to the same int8
value: the attention becomes uniform (the accuracy it costs: docs/EXPORT.md).

`bounded_attention_masks` recomputes attention with the masked scores set to the row's
smallest score minus `margin` instead. In float this changes the attention weights by at
most `S * exp(-margin)` (S keys; 64 * exp(-16) = 7e-6), while the int8 range of the scores
grows by `margin` only. The int8 softmax (output scale 1/256) rounds every weight below
exp(-6.2) to zero, so any margin >= ~8 masks as exactly in int8 as -1e9 does in float.

It patches the layers' `_compute_attention` for the duration of a trace (the graph that
is converted), never the trained model's weights or its Keras behaviour afterwards.

Example:
>>> with bounded_attention_masks(task_model.model, margin=16.0):
...     outputs = task_model.model(features)   # traced with the bounded mask
"""

import contextlib
import functools

import keras
from keras import ops

DEFAULT_MARGIN = 16.0


def attention_layers(model):
    """Every `keras.layers.MultiHeadAttention` inside `model` (nested layers included)."""
    return [layer for layer in model._flatten_layers(include_self=True, recursive=True)  # pylint: disable=protected-access
            if isinstance(layer, keras.layers.MultiHeadAttention)]


def bounded_masked_attention(layer, margin, query, key, value, attention_mask=None,
                             training=None, return_attention_scores=False,
                             use_causal_mask=False, scores_hook=None):
    """`MultiHeadAttention._compute_attention` at inference with a bounded mask.

    Masked scores become `min(scores over the keys) - margin` instead of -1e9; the rest
    (scaling, the einsum equations, softmax axes) is the layer's own. `scores_hook`, if
    given, maps the masked scores before the softmax (QAT fake-quantises them there).
    """
    del training, return_attention_scores  # Inference: no dropout; scores are returned.
    if use_causal_mask:
        raise ValueError("bounded_attention_masks supports encoder (non-causal) attention.")
    query = ops.multiply(query, ops.cast(layer._inverse_sqrt_key_dim, query.dtype))  # pylint: disable=protected-access
    scores = ops.einsum(layer._dot_product_equation, key, query)  # pylint: disable=protected-access
    axes = tuple(layer._softmax.axis) if isinstance(layer._softmax.axis, (list, tuple)) else (  # pylint: disable=protected-access
        layer._softmax.axis,)  # pylint: disable=protected-access
    if attention_mask is not None:
        # [B, T, S] -> [B, 1, T, S], as `MultiHeadAttention._masked_softmax` expands it.
        mask_axis = -len(layer._attention_axes) * 2 - 1  # pylint: disable=protected-access
        for _ in range(len(scores.shape) - len(attention_mask.shape)):
            attention_mask = ops.expand_dims(attention_mask, axis=mask_axis)
        if attention_mask.dtype != "bool":
            attention_mask = ops.greater(attention_mask, ops.cast(0.5, attention_mask.dtype))
        floor = ops.min(scores, axis=axes, keepdims=True) - ops.cast(margin, scores.dtype)
        scores = ops.where(attention_mask, scores, floor)
    if scores_hook is not None:
        scores = scores_hook(scores)
    if len(axes) == 1:
        weights = ops.softmax(scores, axis=axes[0])
    else:
        weights = ops.exp(scores - ops.logsumexp(scores, axis=axes, keepdims=True))
    output = ops.einsum(layer._combine_equation, weights, value)  # pylint: disable=protected-access
    return output, weights


@contextlib.contextmanager
def bounded_attention_masks(model, margin=DEFAULT_MARGIN):
    """Within the block, `model`'s attention layers mask with a bounded score.

    Args:
      model: a Keras model (its `MultiHeadAttention` layers are found recursively).
      margin: how far below the row's smallest score masked scores are put (> 0).

    Yields:
      The number of attention layers patched.
    """
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin}.")
    layers = attention_layers(model)
    for layer in layers:
        if "_compute_attention" in vars(layer):
            raise RuntimeError(f"{layer.name}: attention already patched (nested use?).")
        # An instance attribute shadows the class method `call` invokes.
        object.__setattr__(layer, "_compute_attention",
                           functools.partial(bounded_masked_attention, layer, float(margin)))
    try:
        yield len(layers)
    finally:
        for layer in layers:
            object.__delattr__(layer, "_compute_attention")
