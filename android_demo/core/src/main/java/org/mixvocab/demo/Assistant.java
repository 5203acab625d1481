package org.mixvocab.demo;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The dialogue assistant: from a text and the model's logits to an answer.
 *
 * <p>The same rules as mixvocab-tf's {@code mixvocab_tf/assistant/bundle.py}, which writes the
 * test vectors this class is checked against:
 *
 * <ol>
 *   <li>Input: a text of only whitespace and control characters is "empty"; one of more than
 *       {@code maxChars} code points is "too_long" (neither reaches the model); a text whose
 *       pieces are all [UNK] is "no_known_word".
 *   <li>Intent: argmax of the intent logits; its softmax (in double) is the confidence; below
 *       the calibrated threshold the answer is "out_of_scope".
 *   <li>Slots (joint models): each whitespace-separated word is read at its first piece
 *       and the sentence takes the best valid BIO sequence ({@link #decodeTags}); BIO tags
 *       become spans as conlleval reads them (an I- without a B- starts one);
 *       a slot's value is the user's own text from its first word to its last.
 *   <li>Reply: the intent's first template (file order) whose {slot} placeholders all have a
 *       value; a slot found twice reads "a and b". Reserved keys hold the other answers.
 * </ol>
 *
 * <pre>{@code
 * Assistant assistant = new Assistant(intents, slotTags, Assistant.readReplies(in), 0.8, 1000);
 * String problem = assistant.checkInput(text);             // before running the model
 * Assistant.Answer a = assistant.answer(text, encoding, tokenizer.unkId(), logits, slotLogits);
 * }</pre>
 */
public final class Assistant {
  public static final String OUT_OF_SCOPE = "<out_of_scope>";
  public static final String EMPTY = "<empty>";
  public static final String TOO_LONG = "<too_long>";
  public static final String NO_KNOWN_WORD = "<no_known_word>";
  private static final String[] RESERVED = {OUT_OF_SCOPE, EMPTY, TOO_LONG, NO_KNOWN_WORD};
  private static final Pattern PLACEHOLDER = Pattern.compile("\\{([^{}]+)\\}");

  /** What the assistant says, and why. */
  public static final class Answer {
    /** intent, out_of_scope, empty, too_long or no_known_word. */
    public final String kind;
    public final String reply;
    /** The top intent ("" when the model did not run). */
    public final String intent;
    public final double confidence;
    /** (slot, value) pairs in text order. */
    public final List<String[]> slots;

    Answer(String kind, String reply, String intent, double confidence, List<String[]> slots) {
      this.kind = kind;
      this.reply = reply;
      this.intent = intent;
      this.confidence = confidence;
      this.slots = slots;
    }
  }

  private final List<String> intents;
  private final List<String> slotTags;
  private final Map<String, List<String>> replies;
  private final double threshold;
  private final int maxChars;

  /**
   * @param intents labels.txt: the intent of each logit
   * @param slotTags slot_labels.txt, or null for an intent-only model
   * @param replies {@link #readReplies}
   * @param threshold the confidence below which an utterance is out of scope
   * @param maxChars longer texts are refused before the model
   */
  public Assistant(List<String> intents, List<String> slotTags, Map<String, List<String>> replies,
      double threshold, int maxChars) {
    for (String key : RESERVED) {
      if (!replies.containsKey(key)) {
        throw new IllegalArgumentException(
            "replies.tsv has no " + key + " line. Fix: ship the replies.tsv of the bundle.");
      }
    }
    this.intents = intents;
    this.slotTags = slotTags;
    this.replies = replies;
    this.threshold = threshold;
    this.maxChars = maxChars;
  }

  /** {@code key<TAB>template} lines; a key may have several templates, tried in order. */
  public static Map<String, List<String>> readReplies(InputStream repliesTsv) throws IOException {
    Map<String, List<String>> replies = new LinkedHashMap<>();
    try (BufferedReader reader =
        new BufferedReader(new InputStreamReader(repliesTsv, StandardCharsets.UTF_8))) {
      String line;
      int number = 0;
      while ((line = reader.readLine()) != null) {
        number++;
        if (line.isBlank()) {
          continue;
        }
        int tab = line.indexOf('\t');
        if (tab < 0) {
          throw new IllegalArgumentException(
              "replies.tsv line " + number + " has no tab. Fix: write intent<TAB>reply.");
        }
        replies.computeIfAbsent(line.substring(0, tab).strip(), k -> new ArrayList<>())
            .add(line.substring(tab + 1).strip());
      }
    }
    return replies;
  }

  /** "empty", "too_long" or null when the text may go to the model. */
  public String checkInput(String text) {
    if (isBlank(text)) {
      return "empty";
    }
    if (text.codePointCount(0, text.length()) > maxChars) {
      return "too_long";
    }
    return null;
  }

  /** The answer for a text that {@link #checkInput} refused, or null if it did not. */
  public Answer refusal(String text) {
    String problem = checkInput(text);
    return problem == null ? null
        : new Answer(problem, say("<" + problem + ">", List.of()), "", 0.0, List.of());
  }

  /**
   * The answer to {@code text}.
   *
   * @param encoding the tokenizer's {@link BertTokenizer#encodeWords} of the text
   * @param unkId the id of [UNK]
   * @param intentLogits the model's intent logits [C]
   * @param slotLogits the slot logits [L][T] (rows up to the text's length suffice), or null
   */
  public Answer answer(String text, BertTokenizer.Encoding encoding, int unkId,
      float[] intentLogits, float[][] slotLogits) {
    Answer refused = refusal(text);
    if (refused != null) {
      return refused;
    }
    if (intentLogits.length != intents.size()) {
      throw new IllegalArgumentException(intentLogits.length + " intent logits for "
          + intents.size() + " labels. Fix: ship the labels.txt exported with this model.");
    }
    int[] ids = encoding.features.tokenIds;
    int count = 0;
    for (int m : encoding.features.paddingMask) {
      count += m;
    }
    boolean known = false;
    for (int i = 1; i < count - 1; i++) {
      known |= ids[i] != unkId;
    }
    if (!known) {
      return new Answer("no_known_word", say(NO_KNOWN_WORD, List.of()), "", 0.0, List.of());
    }
    int best = argmax(intentLogits);
    double confidence = softmax(intentLogits)[best];
    String intent = intents.get(best);
    if (confidence < threshold) {
      return new Answer("out_of_scope", say(OUT_OF_SCOPE, List.of()), intent, confidence,
          List.of());
    }
    List<String[]> slots = List.of();
    if (slotTags != null && slotLogits != null) {
      slots = decodeSlots(text, decodeTags(slotLogits, encoding.wordStarts, slotTags));
    }
    return new Answer("intent", say(intent, slots), intent, confidence, slots);
  }

  private String say(String key, List<String[]> slots) {
    String reply = fillTemplate(replies.getOrDefault(key, List.of()), slots);
    return reply != null ? reply : replies.get(OUT_OF_SCOPE).get(0);
  }

  /** Only whitespace, separators and control or format characters (or nothing). */
  static boolean isBlank(String text) {
    return text.codePoints().allMatch(cp -> {
      int type = Character.getType(cp);
      return type == Character.CONTROL || type == Character.FORMAT
          || type == Character.SPACE_SEPARATOR || type == Character.LINE_SEPARATOR
          || type == Character.PARAGRAPH_SEPARATOR;
    });
  }

  /** Index of the first largest value. */
  static int argmax(float[] values) {
    int best = 0;
    for (int i = 1; i < values.length; i++) {
      if (values[i] > values[best]) {
        best = i;
      }
    }
    return best;
  }

  /**
   * Each word's tag: the best valid BIO sequence of the words' log-softmax scores at their first
   * pieces, every I-x after a B-x or I-x (Viterbi, in double; ties to the lower tag id, as the
   * Python reference `bio_decoding.bio_viterbi` breaks them). Words cut off by truncation
   * (start -1, always a suffix) read "O".
   */
  static List<String> decodeTags(float[][] slotLogits, int[] wordStarts, List<String> tags) {
    int kept = 0;
    while (kept < wordStarts.length && wordStarts[kept] >= 0) {
      kept++;
    }
    int n = tags.size();
    boolean[][] allowed = new boolean[n][n];
    boolean[] first = new boolean[n];
    for (int j = 0; j < n; j++) {
      String tag = tags.get(j);
      boolean inside = tag.startsWith("I-");
      first[j] = !inside;
      for (int i = 0; i < n; i++) {
        String prev = tags.get(i);
        allowed[i][j] = !inside || prev.equals(tag) || prev.equals("B-" + tag.substring(2));
      }
    }
    List<String> out = new ArrayList<>();
    if (kept > 0) {
      double[] best = new double[n];
      int[][] back = new int[kept][n];
      double[] scores = logSoftmax(slotLogits[wordStarts[0]]);
      for (int j = 0; j < n; j++) {
        best[j] = first[j] ? scores[j] : Double.NEGATIVE_INFINITY;
      }
      for (int w = 1; w < kept; w++) {
        scores = logSoftmax(slotLogits[wordStarts[w]]);
        double[] next = new double[n];
        for (int j = 0; j < n; j++) {
          int from = 0;
          double value = Double.NEGATIVE_INFINITY;
          boolean seen = false;
          for (int i = 0; i < n; i++) {
            double candidate = allowed[i][j] ? best[i] : Double.NEGATIVE_INFINITY;
            if (!seen || candidate > value) {
              value = candidate;
              from = i;
              seen = true;
            }
          }
          back[w][j] = from;
          next[j] = value + scores[j];
        }
        best = next;
      }
      int[] path = new int[kept];
      int last = 0;
      for (int j = 1; j < n; j++) {
        if (best[j] > best[last]) {
          last = j;
        }
      }
      path[kept - 1] = last;
      for (int w = kept - 1; w > 0; w--) {
        path[w - 1] = back[w][path[w]];
      }
      for (int id : path) {
        out.add(tags.get(id));
      }
    }
    for (int w = kept; w < wordStarts.length; w++) {
      out.add("O");
    }
    return out;
  }

  /** log(softmax(logits)) in double, max-subtracted. */
  static double[] logSoftmax(float[] logits) {
    double max = Double.NEGATIVE_INFINITY;
    for (float v : logits) {
      max = Math.max(max, v);
    }
    double sum = 0;
    for (float v : logits) {
      sum += Math.exp((double) v - max);
    }
    double log = Math.log(sum);
    double[] out = new double[logits.length];
    for (int i = 0; i < logits.length; i++) {
      out[i] = (double) logits[i] - max - log;
    }
    return out;
  }

  /** Softmax in double, max-subtracted (as the Python reference computes it). */
  static double[] softmax(float[] logits) {
    double max = Double.NEGATIVE_INFINITY;
    for (float v : logits) {
      max = Math.max(max, v);
    }
    double[] e = new double[logits.length];
    double sum = 0;
    for (int i = 0; i < logits.length; i++) {
      e[i] = Math.exp((double) logits[i] - max);
      sum += e[i];
    }
    for (int i = 0; i < e.length; i++) {
      e[i] /= sum;
    }
    return e;
  }

  /** (slot, first word, last word) spans of BIO word tags, conlleval's way. */
  static List<Object[]> bioSpans(List<String> tags) {
    List<Object[]> spans = new ArrayList<>();
    int start = -1;
    String kind = null;
    List<String> padded = new ArrayList<>(tags);
    padded.add("O");
    for (int i = 0; i < padded.size(); i++) {
      String tag = padded.get(i);
      int dash = tag.indexOf('-');
      String prefix = dash < 0 ? tag : tag.substring(0, dash);
      String name = dash < 0 ? "" : tag.substring(dash + 1);
      if (start >= 0 && (prefix.equals("O") || prefix.equals("B") || !name.equals(kind))) {
        spans.add(new Object[] {kind, start, i - 1});
        start = -1;
        kind = null;
      }
      if (prefix.equals("B") || (prefix.equals("I") && start < 0)) {
        start = i;
        kind = name;
      }
    }
    return spans;
  }

  /** (slot, value) pairs: each span's text as the user typed it, pieces and case kept. */
  public static List<String[]> decodeSlots(String text, List<String> wordTags) {
    List<int[]> words = Words.spans(text);
    List<String[]> slots = new ArrayList<>();
    for (Object[] span : bioSpans(wordTags)) {
      int first = (Integer) span[1];
      int last = (Integer) span[2];
      slots.add(new String[] {
          (String) span[0], text.substring(words.get(first)[0], words.get(last)[1])});
    }
    return Collections.unmodifiableList(slots);
  }

  /** The first template whose placeholders all have a value, filled; null if none fits. */
  public static String fillTemplate(List<String> templates, List<String[]> slots) {
    Map<String, List<String>> values = new LinkedHashMap<>();
    for (String[] slot : slots) {
      values.computeIfAbsent(slot[0], k -> new ArrayList<>()).add(slot[1]);
    }
    for (String template : templates) {
      Matcher matcher = PLACEHOLDER.matcher(template);
      boolean fits = true;
      while (matcher.find()) {
        fits &= values.containsKey(matcher.group(1));
      }
      if (!fits) {
        continue;
      }
      matcher.reset();
      StringBuilder out = new StringBuilder();
      while (matcher.find()) {
        matcher.appendReplacement(
            out, Matcher.quoteReplacement(String.join(" and ", values.get(matcher.group(1)))));
      }
      matcher.appendTail(out);
      return out.toString();
    }
    return null;
  }
}
