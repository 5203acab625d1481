package org.mixvocab.demo;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.FileInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * The Java tokenizer against the test vectors of mixvocab-tf's own preprocessor.
 *
 * <p>System properties: {@code vocab} (vocab.txt) and {@code vectors} (from
 * {@code tools/export_test_vectors.py}); {@code tests/export/test_test_vectors.py} sets both.
 */
public class BertTokenizerTest {
  private static String property(String name) {
    String value = System.getProperty(name);
    if (value == null) {
      throw new IllegalStateException("set -D" + name + "=<path> (tests/android runs this)");
    }
    return value;
  }

  private static int[] ints(String field) {
    return Arrays.stream(field.trim().split(" ")).mapToInt(Integer::parseInt).toArray();
  }

  @Test
  public void everyVectorMatches() throws IOException {
    BertTokenizer tokenizer;
    List<String> lines = Files.readAllLines(Paths.get(property("vectors")), StandardCharsets.UTF_8);
    String header = lines.get(0);
    assertTrue(header, header.startsWith("# sequence_length="));
    Map<String, String> settings = header(header);
    int sequenceLength = Integer.parseInt(settings.get("sequence_length"));
    boolean lowerCase = Boolean.parseBoolean(settings.get("lower_case"));
    BertTokenizer.Normalization normalization =
        BertTokenizer.Normalization.of(settings.getOrDefault("normalization", "bert"));
    try (FileInputStream vocab = new FileInputStream(property("vocab"))) {
      tokenizer = BertTokenizer.load(vocab, lowerCase, normalization);
    }
    int checked = 0;
    for (String line : lines.subList(1, lines.size())) {
      String[] fields = line.split("\t");
      String text = new String(Base64.getDecoder().decode(fields[0]), StandardCharsets.UTF_8);
      BertTokenizer.Features features = tokenizer.encode(text, sequenceLength);
      assertArrayEquals("token ids of " + text, ints(fields[1]), features.tokenIds);
      assertArrayEquals("padding mask of " + text, ints(fields[2]), features.paddingMask);
      assertArrayEquals(new int[sequenceLength], features.segmentIds);
      checked++;
    }
    assertEquals(lines.size() - 1, checked);
    assertTrue("too few vectors: " + checked, checked >= 10);
  }

  /** "# key=value key=value" -> a map. */
  static Map<String, String> header(String line) {
    Map<String, String> settings = new HashMap<>();
    for (String field : line.substring(1).trim().split(" ")) {
      String[] kv = field.split("=", 2);
      settings.put(kv[0], kv.length > 1 ? kv[1] : "");
    }
    return settings;
  }

  @Test
  public void mediaPipeNormalisationKeepsAccentsAndLowersAsciiOnly() {
    List<String> vocab = Arrays.asList(
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "play", "cafe", "café", "##s", ",", "!", "日");
    BertTokenizer mp = new BertTokenizer(vocab, true, BertTokenizer.Normalization.MEDIAPIPE);
    BertTokenizer bert = new BertTokenizer(vocab, true);
    assertEquals(Arrays.asList(4, 6, 8, 1, 9, 10, 1), mp.tokenize("PLAY café, CAFÉ! 日本"));
    assertEquals(Arrays.asList(4, 5, 8, 5, 9, 10, 1), bert.tokenize("PLAY café, CAFÉ! 日本"));
    // A no-break space is not MediaPipe whitespace: the word stays whole (and unknown).
    assertEquals(Arrays.asList(1), mp.tokenize("play\u00a0cafe"));
    BertTokenizer.Encoding e = mp.encodeWords("play  cafés\tcafe", 5);
    assertArrayEquals(new int[] {2, 4, 6, 7, 3}, e.features.tokenIds);
    assertArrayEquals(new int[] {1, 2, -1}, e.wordStarts);
  }

  @Test(expected = IllegalArgumentException.class)
  public void vocabularyWithoutSpecialTokensIsRejected() {
    new BertTokenizer(Arrays.asList("[PAD]", "hello"), true);
  }
}
