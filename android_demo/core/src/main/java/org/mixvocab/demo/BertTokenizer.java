package org.mixvocab.demo;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.IntPredicate;

/**
 * The uncased BERT tokenizer in plain Java: what the ids-form model expects as input.
 *
 * <p>It reproduces mixvocab-tf's {@code SingleVocabPreprocessor} with "bert" normalisation
 * (tensorflow-text's FastBertNormalizer + FastWordpieceTokenizer, close to the original BERT
 * BasicTokenizer and WordpieceTokenizer): case-fold (ICU's NFKC_Casefold: NFKC, delete
 * default-ignorable characters, lower case), turn whitespace, control and format characters
 * into spaces, put spaces around CJK ideographs, NFD, strip combining marks (case folding,
 * NFD and mark stripping only for uncased vocabularies), split on whitespace and punctuation, then greedy longest-match WordPiece with "##"
 * continuations; a word longer than 100 UTF-8 bytes or with no segmentation is [UNK]. Then
 * {@code [CLS] pieces [SEP]}, truncated and padded with 0 to the model's sequence length.
 * The test vectors written by {@code tools/export_test_vectors.py} pin the exact ids.
 *
 * <p>With {@link Normalization#MEDIAPIPE} it is MediaPipe Tasks' tokenizer instead (what a
 * model trained with mixvocab-tf's {@code normalization="mediapipe"} expects, and what
 * MediaPipe's TextClassifier feeds it): ASCII lower-casing only, nothing else normalised.
 *
 * <pre>{@code
 * BertTokenizer tokenizer = BertTokenizer.load(new FileInputStream("vocab.txt"), true);
 * BertTokenizer.Features f = tokenizer.encode("play some jazz", 32);
 * // f.tokenIds, f.segmentIds, f.paddingMask: int[32], the model's three inputs
 * }</pre>
 */
public final class BertTokenizer {
  private static final String SUFFIX = "##";
  private static final int MAX_BYTES_PER_WORD = 100;

  /** How text is normalised and split before WordPiece. */
  public enum Normalization {
    /** tensorflow-text's FastBertTokenizer (mixvocab-tf's "bert"). */
    BERT,
    /**
     * MediaPipe Tasks' BertTokenizer (mixvocab-tf's "mediapipe"): ASCII lower-casing only,
     * accents kept, words split on ASCII whitespace (RE2's \s), each punctuation character
     * (ASCII or Unicode P*) and CJK ideograph a word of its own.
     */
    MEDIAPIPE;

    /** "bert" or "mediapipe", as task_config.json and assistant.properties write it. */
    public static Normalization of(String name) {
      switch (name.trim().toLowerCase(Locale.ROOT)) {
        case "bert":
          return BERT;
        case "mediapipe":
          return MEDIAPIPE;
        default:
          throw new IllegalArgumentException(
              "unknown normalization " + name + ". Fix: use bert or mediapipe, as exported.");
      }
    }
  }

  /** The model inputs plus, per whitespace-separated word, where its first piece sits. */
  public static final class Encoding {
    public final Features features;
    /** Position of each word's first piece in tokenIds; -1 when truncation cut it off. */
    public final int[] wordStarts;

    Encoding(Features features, int[] wordStarts) {
      this.features = features;
      this.wordStarts = wordStarts;
    }
  }

  private final Map<String, Integer> ids;
  private final boolean lowerCase;
  private final Normalization normalization;
  private final int unkId;
  private final int clsId;
  private final int sepId;

  /** The three int32 inputs of the ids-form model, each of the sequence length. */
  public static final class Features {
    public final int[] tokenIds;
    public final int[] segmentIds;
    public final int[] paddingMask;

    Features(int[] tokenIds, int[] segmentIds, int[] paddingMask) {
      this.tokenIds = tokenIds;
      this.segmentIds = segmentIds;
      this.paddingMask = paddingMask;
    }
  }

  public BertTokenizer(List<String> vocabulary, boolean lowerCase) {
    this(vocabulary, lowerCase, Normalization.BERT);
  }

  public BertTokenizer(List<String> vocabulary, boolean lowerCase, Normalization normalization) {
    this.normalization = normalization;
    ids = new HashMap<>();
    for (int i = 0; i < vocabulary.size(); i++) {
      ids.putIfAbsent(vocabulary.get(i), i);
    }
    this.lowerCase = lowerCase;
    unkId = required("[UNK]");
    clsId = required("[CLS]");
    sepId = required("[SEP]");
  }

  /** Reads a vocab.txt (one token a line, UTF-8; the line number is the id). */
  public static BertTokenizer load(InputStream vocabTxt, boolean lowerCase) throws IOException {
    return load(vocabTxt, lowerCase, Normalization.BERT);
  }

  /** Reads a vocab.txt for a model trained with {@code normalization}. */
  public static BertTokenizer load(
      InputStream vocabTxt, boolean lowerCase, Normalization normalization) throws IOException {
    List<String> tokens = new ArrayList<>();
    try (BufferedReader reader =
        new BufferedReader(new InputStreamReader(vocabTxt, StandardCharsets.UTF_8))) {
      String line;
      while ((line = reader.readLine()) != null) {
        tokens.add(line.strip());
      }
    }
    return new BertTokenizer(tokens, lowerCase, normalization);
  }

  /** The id of [UNK]. */
  public int unkId() {
    return unkId;
  }

  private int required(String token) {
    Integer id = ids.get(token);
    if (id == null) {
      throw new IllegalArgumentException(
          "the vocabulary has no " + token + " token. Fix: use the vocab.txt exported with the model.");
    }
    return id;
  }

  /** WordPiece ids of a text, without [CLS]/[SEP]. */
  public List<Integer> tokenize(String text) {
    List<Integer> pieces = new ArrayList<>();
    if (normalization == Normalization.MEDIAPIPE) {
      for (String word : splitWordsMediaPipe(lowerCase ? asciiLower(text) : text)) {
        wordPieces(word, pieces);
      }
      return pieces;
    }
    for (String word : splitWords(normalize(text))) {
      wordPieces(word, pieces);
    }
    return pieces;
  }

  /**
   * The model inputs of {@code text} and each whitespace-separated word's first piece (for the
   * slot tags, which the model predicts there), as mixvocab-tf's WordAligner gives them: each
   * word is tokenised alone (with MediaPipe's normalisation this is the whole text's
   * tokenisation); a word without pieces takes one [UNK].
   */
  public Encoding encodeWords(String text, int sequenceLength) {
    if (sequenceLength < 2) {
      throw new IllegalArgumentException("sequenceLength must be >= 2, got " + sequenceLength);
    }
    List<String> words = Words.split(text);
    List<Integer> pieces = new ArrayList<>();
    int[] wordStarts = new int[words.size()];
    for (int w = 0; w < words.size(); w++) {
      int before = pieces.size();
      pieces.addAll(tokenize(words.get(w)));
      if (pieces.size() == before) {
        pieces.add(unkId);
      }
      int position = before + 1;  // after [CLS]
      wordStarts[w] = position < sequenceLength - 1 ? position : -1;
    }
    return new Encoding(pack(pieces, sequenceLength), wordStarts);
  }

  /** {@code [CLS] pieces [SEP]}, truncated and padded to {@code sequenceLength}. */
  public Features encode(String text, int sequenceLength) {
    if (sequenceLength < 2) {
      throw new IllegalArgumentException("sequenceLength must be >= 2, got " + sequenceLength);
    }
    return pack(tokenize(text), sequenceLength);
  }

  private Features pack(List<Integer> pieces, int sequenceLength) {
    int count = Math.min(pieces.size(), sequenceLength - 2);
    int[] tokenIds = new int[sequenceLength];
    int[] paddingMask = new int[sequenceLength];
    tokenIds[0] = clsId;
    for (int i = 0; i < count; i++) {
      tokenIds[i + 1] = pieces.get(i);
    }
    tokenIds[count + 1] = sepId;
    for (int i = 0; i < count + 2; i++) {
      paddingMask[i] = 1;
    }
    return new Features(tokenIds, new int[sequenceLength], paddingMask);
  }

  private String normalize(String text) {
    if (lowerCase) {
      // tensorflow-text lower-cases with ICU's NFKC_Casefold ("…" -> "...", "ﬁ" -> "fi"),
      // which also deletes default-ignorable characters (zero-width space, soft hyphen):
      // NFKC, deletion, lower case, then the folds lower-casing lacks.
      StringBuilder folded = new StringBuilder(text.length());
      Normalizer.normalize(text, Normalizer.Form.NFKC).codePoints().forEach(cp -> {
        if (!isDefaultIgnorable(cp)) {
          folded.appendCodePoint(cp);
        }
      });
      text = folded.toString().toLowerCase(Locale.ROOT).replace("ß", "ss").replace("ς", "σ");
    }
    // Control and format characters separate words like whitespace; CJK ideographs are words.
    StringBuilder cleaned = new StringBuilder(text.length());
    text.codePoints().forEach(cp -> {
      if (isWhitespace(cp) || isControl(cp)) {
        cleaned.append(' ');
      } else if (isCjk(cp)) {
        cleaned.append(' ').appendCodePoint(cp).append(' ');
      } else {
        cleaned.appendCodePoint(cp);
      }
    });
    if (!lowerCase) {
      return cleaned.toString();
    }
    String decomposed = Normalizer.normalize(cleaned.toString(), Normalizer.Form.NFD);
    StringBuilder stripped = new StringBuilder(decomposed.length());
    decomposed.codePoints().forEach(cp -> {
      if (Character.getType(cp) != Character.NON_SPACING_MARK) {
        stripped.appendCodePoint(cp);
      }
    });
    return stripped.toString();
  }

  /** A-Z to a-z, nothing else (absl::AsciiStrToLower, as MediaPipe). */
  private static String asciiLower(String text) {
    StringBuilder lower = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      lower.append(c >= 'A' && c <= 'Z' ? (char) (c + 32) : c);
    }
    return lower.toString();
  }

  /** MediaPipe's split: on ASCII whitespace (dropped), punctuation and CJK (kept as words). */
  private static List<String> splitWordsMediaPipe(String text) {
    return split(text, Words::isSpace, cp -> isPunctuation(cp) || isCjk(cp));
  }

  /** Whitespace-separated words, each punctuation character a word of its own. */
  private static List<String> splitWords(String text) {
    return split(text, cp -> cp == ' ', BertTokenizer::isPunctuation);
  }

  /** Splits at `dropped` characters (removed) and `kept` ones (each a word of its own). */
  private static List<String> split(String text, IntPredicate dropped, IntPredicate kept) {
    List<String> words = new ArrayList<>();
    StringBuilder word = new StringBuilder();
    text.codePoints().forEach(cp -> {
      boolean drop = dropped.test(cp);
      if (drop || kept.test(cp)) {
        if (word.length() > 0) {
          words.add(word.toString());
          word.setLength(0);
        }
        if (!drop) {
          words.add(new String(Character.toChars(cp)));
        }
      } else {
        word.appendCodePoint(cp);
      }
    });
    if (word.length() > 0) {
      words.add(word.toString());
    }
    return words;
  }

  private void wordPieces(String word, List<Integer> out) {
    if (word.getBytes(StandardCharsets.UTF_8).length > MAX_BYTES_PER_WORD) {
      out.add(unkId);
      return;
    }
    List<Integer> pieces = new ArrayList<>();
    int start = 0;
    while (start < word.length()) {
      int end = word.length();
      Integer id = null;
      while (end > start) {
        String candidate = (start > 0 ? SUFFIX : "") + word.substring(start, end);
        id = ids.get(candidate);
        if (id != null) {
          break;
        }
        end = Character.isLowSurrogate(word.charAt(end - 1)) ? end - 2 : end - 1;
      }
      if (id == null) {
        out.add(unkId);
        return;
      }
      pieces.add(id);
      start = end;
    }
    out.addAll(pieces);
  }

  private static boolean isWhitespace(int cp) {
    int type = Character.getType(cp);
    return cp == ' ' || type == Character.SPACE_SEPARATOR || type == Character.LINE_SEPARATOR
        || type == Character.PARAGRAPH_SEPARATOR;
  }

  /** Cc and Cf; U+FFFD and private-use characters stay (their word becomes [UNK]). */
  private static boolean isControl(int cp) {
    int type = Character.getType(cp);
    return type == Character.CONTROL || type == Character.FORMAT;
  }

  /** Unicode's Default_Ignorable_Code_Point, as far as NFKC_Casefold deletes it. */
  private static boolean isDefaultIgnorable(int cp) {
    return Character.getType(cp) == Character.FORMAT
        || cp == 0x034F || cp == 0x115F || cp == 0x1160 || cp == 0x17B4 || cp == 0x17B5
        || (cp >= 0x180B && cp <= 0x180F) || cp == 0x3164 || (cp >= 0xFE00 && cp <= 0xFE0F)
        || cp == 0xFFA0 || (cp >= 0xE0000 && cp <= 0xE0FFF);
  }

  private static boolean isPunctuation(int cp) {
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96)
        || (cp >= 123 && cp <= 126)) {
      return true;
    }
    switch (Character.getType(cp)) {
      case Character.CONNECTOR_PUNCTUATION:
      case Character.DASH_PUNCTUATION:
      case Character.START_PUNCTUATION:
      case Character.END_PUNCTUATION:
      case Character.INITIAL_QUOTE_PUNCTUATION:
      case Character.FINAL_QUOTE_PUNCTUATION:
      case Character.OTHER_PUNCTUATION:
        return true;
      default:
        return false;
    }
  }

  private static boolean isCjk(int cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF)
        || (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F)
        || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF)
        || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
  }
}
