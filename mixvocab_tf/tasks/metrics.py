"""Task metrics, in plain NumPy so that they can be checked by hand.

* `accuracy`, `binary_f1` (MRPC), `matthews_corrcoef` (CoLA),
* `span_f1`: CoNLL-style slot F1 over BIO spans (a span counts only when its type and both
  boundaries match; I- without a preceding B- starts a span, as in conlleval),
* `recall_at_k`: response selection, rank of the true response among its candidates,
* `oos_recall`: CLINC150's out-of-scope recall.

Example:
>>> span_f1([["B-city", "I-city", "O"]], [["B-city", "O", "O"]])["f1"]
0.0
"""

import numpy as np


def accuracy(labels, predictions):
    """Fraction of equal entries."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.size == 0:
        raise ValueError("accuracy of zero examples")
    return float(np.mean(labels == predictions))


def binary_f1(labels, predictions, positive=1):
    """F1 of the `positive` class (0.0 when it is never predicted nor present)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    tp = np.sum((predictions == positive) & (labels == positive))
    fp = np.sum((predictions == positive) & (labels != positive))
    fn = np.sum((predictions != positive) & (labels == positive))
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return float(2 * precision * recall / (precision + recall))


def matthews_corrcoef(labels, predictions, positive=1):
    """Matthews correlation of a binary task (0.0 when a marginal is constant, like sklearn)."""
    labels = np.asarray(labels) == positive
    predictions = np.asarray(predictions) == positive
    tp = float(np.sum(predictions & labels))
    tn = float(np.sum(~predictions & ~labels))
    fp = float(np.sum(predictions & ~labels))
    fn = float(np.sum(~predictions & labels))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    if denominator == 0:
        return 0.0
    return float((tp * tn - fp * fn) / denominator)


def bio_spans(tags):
    """Spans `(type, start, end_exclusive)` of a BIO sequence, conlleval's way."""
    spans = []
    start, kind = None, None
    for index, tag in enumerate(list(tags) + ["O"]):
        prefix, _, name = tag.partition("-")
        # A span ends at O, at B-, or at an I- of another type.
        if start is not None and (prefix in ("O", "B") or name != kind):
            spans.append((kind, start, index))
            start, kind = None, None
        if prefix == "B" or (prefix == "I" and start is None):
            start, kind = index, name
    return spans


def span_f1(gold_sequences, predicted_sequences):
    """CoNLL span precision, recall and F1 over a corpus.

    Args:
      gold_sequences: per sentence, its gold BIO tags.
      predicted_sequences: per sentence, the predicted tags (same lengths).

    Returns:
      dict with "precision", "recall", "f1", and the counts "gold", "predicted", "correct".
    """
    gold_count = predicted_count = correct = 0
    for index, (gold, predicted) in enumerate(zip(gold_sequences, predicted_sequences)):
        if len(gold) != len(predicted):
            raise ValueError(
                f"sentence {index}: {len(predicted)} predicted tags for {len(gold)} gold tags")
        gold_spans = set(bio_spans(gold))
        predicted_spans = set(bio_spans(predicted))
        gold_count += len(gold_spans)
        predicted_count += len(predicted_spans)
        correct += len(gold_spans & predicted_spans)
    precision = correct / predicted_count if predicted_count else 0.0
    recall = correct / gold_count if gold_count else 0.0
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "gold": gold_count, "predicted": predicted_count, "correct": correct}


def recall_at_k(scores, ks=(1, 10)):
    """Recall@k of response selection where candidate 0... is scored against itself.

    Args:
      scores: [N, N] similarities of N contexts (rows) to N candidate responses; the true
        response of context i is candidate i.
      ks: the cut-offs.

    Returns:
      dict "recall@k" -> fraction of rows whose true candidate ranks in the top k (ties
      count against the model).
    """
    scores = np.asarray(scores, dtype=np.float64)
    true = np.diag(scores)[:, None]
    rank = np.sum(scores >= true, axis=1)  # 1 = best; ties rank the true response last.
    return {f"recall@{k}": float(np.mean(rank <= k)) for k in ks}


def oos_recall(predicted_labels, oos_label="oos"):
    """Fraction of out-of-scope utterances predicted as out-of-scope."""
    predicted_labels = list(predicted_labels)
    if not predicted_labels:
        raise ValueError("oos recall of zero examples")
    return float(np.mean([label == oos_label for label in predicted_labels]))
