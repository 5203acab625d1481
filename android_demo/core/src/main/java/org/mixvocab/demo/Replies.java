package org.mixvocab.demo;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The dialogue side of the demo: one reply per intent, chosen from the model's scores.
 *
 * <p>{@code replies.tsv} holds {@code intent<TAB>reply} lines; {@code labels.txt} (exported
 * with the model) names the output units in order.
 *
 * <pre>{@code
 * Replies replies = Replies.load(assets.open("replies.tsv"), labels, 0.5f);
 * String answer = replies.reply(probabilities);  // probabilities: the model's [C] output
 * }</pre>
 */
public final class Replies {
  static final String FALLBACK = "Sorry, I did not get that. Could you rephrase?";

  private final Map<String, String> byIntent;
  private final List<String> labels;
  private final float minProbability;

  public Replies(Map<String, String> byIntent, List<String> labels, float minProbability) {
    this.byIntent = byIntent;
    this.labels = labels;
    this.minProbability = minProbability;
  }

  public static Replies load(InputStream repliesTsv, List<String> labels, float minProbability)
      throws IOException {
    Map<String, String> byIntent = new HashMap<>();
    try (BufferedReader reader =
        new BufferedReader(new InputStreamReader(repliesTsv, StandardCharsets.UTF_8))) {
      String line;
      int number = 0;
      while ((line = reader.readLine()) != null) {
        number++;
        if (line.isBlank()) {
          continue;
        }
        String[] fields = line.split("\t", 2);
        if (fields.length != 2) {
          throw new IllegalArgumentException(
              "replies.tsv line " + number + " has no tab. Fix: write intent<TAB>reply.");
        }
        byIntent.put(fields[0].strip(), fields[1].strip());
      }
    }
    return new Replies(byIntent, labels, minProbability);
  }

  /** The index of the highest probability. */
  public static int argmax(float[] probabilities) {
    int best = 0;
    for (int i = 1; i < probabilities.length; i++) {
      if (probabilities[i] > probabilities[best]) {
        best = i;
      }
    }
    return best;
  }

  /** The reply to the top intent, or a fallback when the model is unsure or has no reply. */
  public String reply(float[] probabilities) {
    if (probabilities.length != labels.size()) {
      throw new IllegalArgumentException(
          probabilities.length + " scores for " + labels.size() + " labels. Fix: ship the"
              + " labels.txt exported with this model.");
    }
    int best = argmax(probabilities);
    if (probabilities[best] < minProbability) {
      return FALLBACK;
    }
    return byIntent.getOrDefault(labels.get(best), FALLBACK);
  }
}
