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
import java.util.List;
import org.junit.Test;

/**
 * The Java tokenizer against the test vectors of mixvocab-tf's own preprocessor.
 *
 * <p>System properties: {@code vocab} (vocab.txt) and {@code vectors} (from
 * {@code tools/export_test_vectors.py}); {@code tests/android/test_android_core.py} sets both.
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
    int sequenceLength = Integer.parseInt(header.split("[= ]")[2]);
    boolean lowerCase = header.endsWith("lower_case=true");
    try (FileInputStream vocab = new FileInputStream(property("vocab"))) {
      tokenizer = BertTokenizer.load(vocab, lowerCase);
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

  @Test(expected = IllegalArgumentException.class)
  public void vocabularyWithoutSpecialTokensIsRejected() {
    new BertTokenizer(Arrays.asList("[PAD]", "hello"), true);
  }
}
