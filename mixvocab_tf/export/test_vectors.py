"""Tokenizer test vectors for the Android demo's plain-Java tokenizer.

The ids form of an exported model leaves tokenisation to the app. These vectors pin what
the app must produce: for each text, the `token_ids` and `padding_mask` that
`SingleVocabPreprocessor` (the layer fine-tuning and the text form use) gives. The
Java tests (`android_demo/core`) read them and must match every row.

Format (UTF-8, one vector a line, tab-separated): the text as base64 of its UTF-8 bytes
(texts may hold tabs and newlines), the token ids, the padding mask (0/1), each space
separated. A first line `# sequence_length=L lower_case=true|false normalization=bert|mediapipe`
gives the settings.

Example:
>>> write_test_vectors("vectors.tsv", vocabulary, ["play some jazz"], sequence_length=32)
"""

import base64

import numpy as np
import tensorflow as tf

from mixvocab_tf.file_io import write_text_atomic
from mixvocab_tf.preprocessing import SingleVocabPreprocessor


# Texts where a tokenizer port is most likely to differ: accents, compatibility characters
# (NFKC: "…" -> "...", "ﬁ" -> "fi"), case folds, CJK, exotic spaces, zero-width and control
# characters, emoji, words around the 100-byte limit, truncation.
EDGE_CASE_TEXTS = (
    "",
    "Héllo, WORLD! naïve café — “quotes” «x» 1,000.5% @user #tag …",
    "tab\there\nnewline\r\n  spaces",
    "ǅemo ﬁne Ⅻ ß İstanbul ΣΊΣΥΦΟΣ",
    "e\u0301cole a\u0308 n\u0303",
    "x" * 99 + " " + "y" * 101 + " " + "é" * 50 + " " + "é" * 51,
    "über" * 30,
    "中文字 日本語のテキスト 한국어 ไทย",
    "\u00a0nbsp\u2003em\u3000ideographic",
    "zero\u200bwidth\u200djoiner\u00adsoft",
    "control \x01\x07\x1b\x7f chars",
    # Between letters, where dropping a character and splitting on it differ.
    "ab\x00cd ab\x01cd ab\x7fcd ab\x85cd ab\u2028cd ab\u200bcd ab\u00adcd ab\u180ecd ab\ufeffcd",
    "ab\ufffdcd ab\ue000cd",
    "emoji 👍🏽 🇫🇷 \U0001F600",
    "play " * 200,
    # MediaPipe's normalisation: no-break and other Unicode spaces stay inside a word, a
    # vertical tab too; only ASCII letters are lower-cased.
    "prix\u00a0fixe\u2009menu\u3000now\x0bthen ÉCOLE Ǆ",
    "x" * 10_000,
)


def write_test_vectors(path, vocabulary, texts, sequence_length, lower_case=True,
                       normalization="bert"):
    """Writes the vectors of `texts` (str) to `path` atomically; returns the row count.

    `normalization`: the model's ("bert" or "mediapipe"; the Java tokenizer reads it from the
    header).
    """
    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("no texts to write test vectors for. Fix: pass at least one text.")
    preprocessor = SingleVocabPreprocessor(
        vocabulary, lower_case=lower_case, sequence_length=sequence_length,
        normalization=normalization)
    outputs = preprocessor(tf.constant([t.encode("utf-8") for t in texts]))
    ids = outputs["token_ids"].numpy()
    mask = outputs["padding_mask"].numpy().astype(np.int32)
    lines = [f"# sequence_length={sequence_length} lower_case={str(bool(lower_case)).lower()} "
             f"normalization={normalization}"]
    for text, row_ids, row_mask in zip(texts, ids, mask):
        lines.append("\t".join([
            base64.b64encode(text.encode("utf-8")).decode("ascii"),
            " ".join(map(str, row_ids)), " ".join(map(str, row_mask))]))
    write_text_atomic(path, "\n".join(lines) + "\n")
    return len(texts)
