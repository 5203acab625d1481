"""`Vocabulary`: a WordPiece vocabulary, its special ids and its casing.

A vocabulary is a list of WordPiece tokens (one a line in a `vocab.txt`, the
line number is the id), plus whether text is lower-cased (and accents
stripped) before it is looked up. The BERT special tokens are found by name,
so both layouts work: the teacher's 30,522-token BERT vocabulary ([PAD]=0,
[UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103) and a learned student vocabulary
([PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4, see `RESERVED_TOKENS`).

Example:

>>> vocab = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"])
>>> vocab.size, vocab.cls_id, vocab.mask_id
(6, 2, 4)
"""

import os

from mixvocab_tf.file_io import write_text_atomic

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"
MASK_TOKEN = "[MASK]"
# The order a learned student vocabulary starts with (keras-hub and
# tensorflow-text learners put reserved tokens first, in the order given).
RESERVED_TOKENS = (PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN)
SUFFIX_INDICATOR = "##"


class Vocabulary:
    """A WordPiece vocabulary with its special-token ids and casing.

    Args:
      tokens: the tokens, in id order. Must hold the five BERT special tokens
        `[PAD] [UNK] [CLS] [SEP] [MASK]`, no duplicates, no empty tokens and
        no whitespace.
      lower_case: whether text is lower-cased and accent-stripped before
        lookup (True for an uncased BERT).

    Raises:
      ValueError: a malformed vocabulary, with what is wrong and the fix.
    """

    def __init__(self, tokens, lower_case=True):
        tokens = [str(t) for t in tokens]
        if not tokens:
            raise ValueError("The vocabulary is empty. Fix: pass a non-empty list of WordPiece tokens.")
        seen = {}
        for index, token in enumerate(tokens):
            if not token or any(c.isspace() for c in token):
                raise ValueError(
                    f"Vocabulary token {index} ({token!r}) is empty or contains whitespace. "
                    "Fix: remove it; WordPiece tokens never contain whitespace."
                )
            if token in seen:
                raise ValueError(
                    f"Vocabulary token {token!r} appears twice (ids {seen[token]} and {index}). "
                    "Fix: remove the duplicate line."
                )
            seen[token] = index
        missing = [t for t in RESERVED_TOKENS if t not in seen]
        if missing:
            raise ValueError(
                f"The vocabulary lacks the special token(s) {missing}. Fix: add them; a learned "
                f"vocabulary should start with {list(RESERVED_TOKENS)}."
            )
        self._tokens = tokens
        self._index = seen
        self.lower_case = bool(lower_case)

    @property
    def tokens(self):
        """The tokens in id order (a copy)."""
        return list(self._tokens)

    @property
    def size(self):
        return len(self._tokens)

    def __len__(self):
        return len(self._tokens)

    def __contains__(self, token):
        return token in self._index

    def token_to_id(self, token):
        """The id of `token`, or `unk_id` when absent."""
        return self._index.get(token, self._index[UNK_TOKEN])

    def id_to_token(self, token_id):
        return self._tokens[token_id]

    @property
    def pad_id(self):
        return self._index[PAD_TOKEN]

    @property
    def unk_id(self):
        return self._index[UNK_TOKEN]

    @property
    def cls_id(self):
        return self._index[CLS_TOKEN]

    @property
    def sep_id(self):
        return self._index[SEP_TOKEN]

    @property
    def mask_id(self):
        return self._index[MASK_TOKEN]

    @property
    def special_ids(self):
        """Ids of the tokens written `[...]` (specials and BERT's `[unusedN]`)."""
        return [i for i, t in enumerate(self._tokens) if len(t) > 2 and t[0] == "[" and t[-1] == "]"]

    @classmethod
    def load(cls, path, lower_case=True):
        """Reads a `vocab.txt` (one token a line, UTF-8).

        Raises:
          FileNotFoundError: `path` does not exist, with the fix.
          ValueError: the file is not a valid vocabulary (names the file).
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            candidate = os.path.join(path, "vocab.txt")
            if not os.path.isfile(candidate):
                raise FileNotFoundError(
                    f"{path} is a directory without a vocab.txt. Fix: pass the vocab.txt file itself."
                )
            path = candidate
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"Vocabulary file {path} not found. Fix: pass the path of a vocab.txt "
                "(one WordPiece token a line), e.g. from tools/learn_vocab.py."
            )
        try:
            with open(path, encoding="utf-8") as f:
                tokens = [line.rstrip("\r\n") for line in f]
        except UnicodeDecodeError as error:
            raise ValueError(f"Vocabulary file {path} is not UTF-8 text. Fix: re-save it as UTF-8.") from error
        while tokens and tokens[-1] == "":
            tokens.pop()
        try:
            return cls(tokens, lower_case=lower_case)
        except ValueError as error:
            raise ValueError(f"Vocabulary file {path}: {error}") from None

    def save(self, path):
        """Writes the tokens one a line, atomically (temp file + `os.replace`)."""
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        write_text_atomic(path, "".join(t + "\n" for t in self._tokens))
        return path

    def __eq__(self, other):
        return (
            isinstance(other, Vocabulary)
            and self._tokens == other._tokens
            and self.lower_case == other.lower_case
        )

    def __repr__(self):
        return f"Vocabulary(size={self.size}, lower_case={self.lower_case})"


def as_vocabulary(vocabulary, lower_case=True):
    """Accepts a `Vocabulary`, a list of tokens or a vocab.txt path."""
    if isinstance(vocabulary, Vocabulary):
        return vocabulary
    if isinstance(vocabulary, (str, os.PathLike)):
        return Vocabulary.load(vocabulary, lower_case=lower_case)
    if isinstance(vocabulary, (list, tuple)):
        return Vocabulary(vocabulary, lower_case=lower_case)
    raise TypeError(
        f"A vocabulary must be a Vocabulary, a list of tokens or a vocab.txt path, got "
        f"{type(vocabulary).__name__}."
    )
