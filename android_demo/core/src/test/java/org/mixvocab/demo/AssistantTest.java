package org.mixvocab.demo;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.Assume;
import org.junit.Test;

/**
 * The assistant's rules, and the whole core against a real export's vectors.
 *
 * <p>System property {@code bundle}: a folder written by mixvocab-tf's Android bundle
 * ({@code assistant.properties}, {@code vocab.txt}, {@code labels.txt}, {@code replies.tsv},
 * {@code assistant_vectors.tsv}, and {@code slot_labels.txt} for joint models). Each vector
 * holds a text, the ids the Python tokenizer gave, the logits the Python model gave and the
 * Python answer; the Java tokenizer must give the same ids and the Java decoding, from those
 * logits, the same kind, intent, confidence (1e-5), slots and reply.
 */
public class AssistantTest {
  private static final List<String> INTENTS = Arrays.asList("GetWeather", "PlayMusic");
  private static final List<String> TAGS = Arrays.asList("O", "B-artist", "I-artist", "B-service");
  private static final String REPLIES = "PlayMusic\tPlaying {artist} on {service}.\n"
      + "PlayMusic\tPlaying {artist}.\nPlayMusic\tPlaying music.\nGetWeather\tSunny.\n"
      + "<out_of_scope>\tSorry.\n<empty>\tSay something.\n<too_long>\tToo long.\n"
      + "<no_known_word>\tUnknown words.\n";

  private static Map<String, List<String>> replies(String tsv) throws IOException {
    return Assistant.readReplies(new ByteArrayInputStream(tsv.getBytes(StandardCharsets.UTF_8)));
  }

  private static BertTokenizer tokenizer() {
    return new BertTokenizer(
        Arrays.asList("[PAD]", "[UNK]", "[CLS]", "[SEP]", "play", "daft", "punk", "on", "spot",
            "##ify", "weather"),
        true, BertTokenizer.Normalization.MEDIAPIPE);
  }

  /** Slot logits [L][T] with a 1 at the given tag of each position. */
  private static float[][] slotLogits(int length, int... tags) {
    float[][] logits = new float[length][TAGS.size()];
    for (int i = 0; i < tags.length; i++) {
      logits[i][tags[i]] = 1f;
    }
    return logits;
  }

  @Test
  public void slotsFillTheTemplateWithTheUsersWordsPiecesMerged() throws IOException {
    Assistant assistant = new Assistant(INTENTS, TAGS, replies(REPLIES), 0.6, 1000);
    BertTokenizer tokenizer = tokenizer();
    String text = "Play  Daft Punk on Spotify";
    BertTokenizer.Encoding e = tokenizer.encodeWords(text, 16);
    // [CLS] play daft punk on spot ##ify [SEP]: "Spotify" is two pieces, one word.
    assertArrayEquals(new int[] {1, 2, 3, 4, 5}, e.wordStarts);
    float[][] slots = slotLogits(16, 0, 0, 1, 2, 0, 3, 2, 0);
    Assistant.Answer a = assistant.answer(text, e, tokenizer.unkId(), new float[] {0f, 3f}, slots);
    assertEquals("intent", a.kind);
    assertEquals("PlayMusic", a.intent);
    assertEquals("Playing Daft Punk on Spotify.", a.reply);
    assertEquals(2, a.slots.size());
    assertArrayEquals(new String[] {"artist", "Daft Punk"}, a.slots.get(0));
    // Without a service the next template fits; without slots the plain one.
    slots = slotLogits(16, 0, 0, 1, 2, 0, 0, 0, 0);
    assertEquals("Playing Daft Punk.",
        assistant.answer(text, e, tokenizer.unkId(), new float[] {0f, 3f}, slots).reply);
    assertEquals("Playing music.",
        assistant.answer(text, e, tokenizer.unkId(), new float[] {0f, 3f}, null).reply);
  }

  @Test
  public void slotTagsAreTheBestValidBioSequence() {
    // Argmax reads "O I-artist"; the valid sequence "B-artist I-artist" scores higher.
    float[][] logits = {{2f, 1.5f, 0f, 0f}, {0f, 0f, 3f, 0f}, {9f, 0f, 0f, 0f}};
    assertEquals(Arrays.asList("B-artist", "I-artist", "O"),
        Assistant.decodeTags(logits, new int[] {0, 1, -1}, TAGS));
    // No sentence starts inside a span; ties go to the lower tag id.
    assertEquals(Arrays.asList("O"),
        Assistant.decodeTags(new float[][] {{0f, 0f, 5f, 0f}}, new int[] {0}, TAGS));
    assertEquals(Arrays.asList("O", "O"),
        Assistant.decodeTags(logits, new int[] {-1, -1}, TAGS));
  }

  @Test
  public void bioDecodingFollowsConlleval() {
    String text = "a b c d e";
    List<String[]> slots = Assistant.decodeSlots(
        text, Arrays.asList("I-artist", "I-artist", "B-artist", "I-service", "O"));
    assertEquals(3, slots.size());
    assertArrayEquals(new String[] {"artist", "a b"}, slots.get(0));
    assertArrayEquals(new String[] {"artist", "c"}, slots.get(1));
    assertArrayEquals(new String[] {"service", "d"}, slots.get(2));
    assertEquals("x c and a b", Assistant.fillTemplate(
        List.of("{missing}", "x {artist}"), List.of(new String[] {"artist", "c"},
            new String[] {"artist", "a b"})));
  }

  @Test
  public void lowConfidenceIsOutOfScope() throws IOException {
    Assistant assistant = new Assistant(INTENTS, null, replies(REPLIES), 0.9, 1000);
    BertTokenizer tokenizer = tokenizer();
    BertTokenizer.Encoding e = tokenizer.encodeWords("play weather", 8);
    Assistant.Answer a = assistant.answer("play weather", e, tokenizer.unkId(),
        new float[] {1f, 1.5f}, null);
    assertEquals("out_of_scope", a.kind);
    assertEquals("Sorry.", a.reply);
    assertEquals(Assistant.softmax(new float[] {1f, 1.5f})[1], a.confidence, 1e-12);
  }

  @Test
  public void badInputIsAnsweredWithoutTheModel() throws IOException {
    Assistant assistant = new Assistant(INTENTS, TAGS, replies(REPLIES), 0.5, 1000);
    BertTokenizer tokenizer = tokenizer();
    float[] logits = {0f, 5f};
    String[][] cases = {
        {"", "empty", "Say something."},
        {" \t\n\u200b\u0001 ", "empty", "Say something."},
        {"play ".repeat(2000), "too_long", "Too long."},
        {"\uD83D\uDE00\uD83D\uDC4D\uD83C\uDFFD", "no_known_word", "Unknown words."},
        {"zzz qqq", "no_known_word", "Unknown words."},
        {"play \u0007\u001b daft", "intent", "Playing music."},
    };
    for (String[] c : cases) {
      BertTokenizer.Encoding e = tokenizer.encodeWords(c[0], 32);
      Assistant.Answer a = assistant.answer(c[0], e, tokenizer.unkId(), logits, null);
      assertEquals(c[0], c[1], a.kind);
      assertEquals(c[0], c[2], a.reply);
    }
    assertNull(assistant.checkInput("x".repeat(1000)));
    assertEquals("too_long", assistant.checkInput("x".repeat(1001)));
    // 10,000 characters of one word: tokenised quickly, refused before the model.
    assertEquals("too_long", assistant.refusal("x".repeat(10_000)).kind);
  }

  @Test(expected = IllegalArgumentException.class)
  public void repliesWithoutTheReservedKeysAreRejected() throws IOException {
    new Assistant(INTENTS, null, replies("PlayMusic\tok\n"), 0.5, 1000);
  }

  @Test(expected = IllegalArgumentException.class)
  public void logitsMustMatchTheLabels() throws IOException {
    Assistant assistant = new Assistant(INTENTS, null, replies(REPLIES), 0.5, 1000);
    BertTokenizer tokenizer = tokenizer();
    assistant.answer("play", tokenizer.encodeWords("play", 8), tokenizer.unkId(),
        new float[] {1f}, null);
  }

  // ---- a real export -------------------------------------------------------------------------

  private static List<String> lines(Path path) throws IOException {
    List<String> out = new ArrayList<>();
    for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
      if (!line.isBlank()) {
        out.add(line.strip());
      }
    }
    return out;
  }

  private static String text(String base64) {
    return new String(Base64.getDecoder().decode(base64), StandardCharsets.UTF_8);
  }

  private static int[] ints(String field) {
    return field.equals("-") ? new int[0]
        : Arrays.stream(field.trim().split(" ")).mapToInt(Integer::parseInt).toArray();
  }

  private static float[] floats(String field) {
    String[] parts = field.trim().split(" ");
    float[] out = new float[parts.length];
    for (int i = 0; i < parts.length; i++) {
      out[i] = Float.parseFloat(parts[i]);
    }
    return out;
  }

  @Test
  public void everyVectorOfTheBundleGivesThePythonAnswer() throws IOException {
    String bundleProperty = System.getProperty("bundle", "");
    Assume.assumeTrue("set -Dbundle=<folder> (tests/export/test_assistant.py does)",
        !bundleProperty.isEmpty());
    Path bundle = Paths.get(bundleProperty);
    Properties config = new Properties();
    try (InputStream in = new FileInputStream(bundle.resolve("assistant.properties").toFile())) {
      config.load(in);
    }
    BertTokenizer tokenizer;
    try (InputStream in = new FileInputStream(bundle.resolve("vocab.txt").toFile())) {
      tokenizer = BertTokenizer.load(in, Boolean.parseBoolean(config.getProperty("lower_case")),
          BertTokenizer.Normalization.of(config.getProperty("normalization")));
    }
    String slotFile = config.getProperty("slot_labels_file", "");
    List<String> tags = slotFile.isEmpty() ? null : lines(bundle.resolve(slotFile));
    Assistant assistant;
    try (InputStream in = new FileInputStream(bundle.resolve("replies.tsv").toFile())) {
      assistant = new Assistant(lines(bundle.resolve("labels.txt")), tags,
          Assistant.readReplies(in), Double.parseDouble(config.getProperty("threshold")),
          Integer.parseInt(config.getProperty("max_chars")));
    }
    int sequenceLength = Integer.parseInt(config.getProperty("sequence_length"));
    List<String> vectors = Files.readAllLines(
        bundle.resolve("assistant_vectors.tsv"), StandardCharsets.UTF_8);
    assertTrue(vectors.get(0), vectors.get(0).startsWith("# sequence_length=" + sequenceLength));
    int checked = 0;
    int withSlots = 0;
    for (String line : vectors.subList(1, vectors.size())) {
      String[] f = line.split("\t", -1);
      String text = text(f[0]);
      BertTokenizer.Encoding e = tokenizer.encodeWords(text, sequenceLength);
      assertArrayEquals("token ids of " + text, ints(f[1]), e.features.tokenIds);
      assertArrayEquals("padding mask of " + text, ints(f[2]), e.features.paddingMask);
      if (assistant.checkInput(text) == null) {
        assertArrayEquals("word starts of " + text, ints(f[3]), e.wordStarts);
      }
      float[] intent = floats(f[4]);
      float[][] slots = null;
      if (!f[5].equals("-") && tags != null) {
        float[] flat = floats(f[5]);
        slots = new float[flat.length / tags.size()][tags.size()];
        for (int i = 0; i < flat.length; i++) {
          slots[i / tags.size()][i % tags.size()] = flat[i];
        }
      }
      Assistant.Answer a = assistant.answer(text, e, tokenizer.unkId(), intent, slots);
      assertEquals("kind of " + text, f[6], a.kind);
      assertEquals("intent of " + text, f[7], a.intent.isEmpty() ? "-" : a.intent);
      assertEquals("confidence of " + text, Double.parseDouble(f[8]), a.confidence, 1e-5);
      StringBuilder slotText = new StringBuilder();
      for (String[] slot : a.slots) {
        slotText.append(slot[0]).append('\t').append(slot[1]).append('\n');
      }
      assertEquals("slots of " + text, text(f[9]), slotText.toString());
      assertEquals("reply of " + text, text(f[10]), a.reply);
      withSlots += a.slots.isEmpty() ? 0 : 1;
      checked++;
    }
    assertTrue("too few vectors: " + checked, checked >= 10);
    System.out.println("assistant vectors checked: " + checked + ", with slots: " + withSlots);
  }
}
