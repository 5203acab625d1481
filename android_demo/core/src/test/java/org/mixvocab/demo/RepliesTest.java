package org.mixvocab.demo;

import static org.junit.Assert.assertEquals;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;

public class RepliesTest {
  private static final List<String> LABELS = Arrays.asList("PlayMusic", "GetWeather", "BookRestaurant");

  private static Replies load(String tsv) throws IOException {
    return Replies.load(
        new ByteArrayInputStream(tsv.getBytes(StandardCharsets.UTF_8)), LABELS, 0.5f);
  }

  @Test
  public void repliesToTheTopIntentAboveTheThreshold() throws IOException {
    Replies replies = load("PlayMusic\tPlaying it now.\nGetWeather\tHere is the forecast.\n\n");
    assertEquals("Here is the forecast.", replies.reply(new float[] {0.1f, 0.8f, 0.1f}));
    assertEquals("Playing it now.", replies.reply(new float[] {0.6f, 0.3f, 0.1f}));
    // Unsure, or an intent without a reply: the fallback.
    assertEquals(Replies.FALLBACK, replies.reply(new float[] {0.4f, 0.35f, 0.25f}));
    assertEquals(Replies.FALLBACK, replies.reply(new float[] {0.1f, 0.1f, 0.8f}));
  }

  @Test(expected = IllegalArgumentException.class)
  public void scoresMustMatchTheLabels() throws IOException {
    load("PlayMusic\tok\n").reply(new float[] {1.0f});
  }

  @Test(expected = IllegalArgumentException.class)
  public void lineWithoutTabIsRejected() throws IOException {
    load("PlayMusic playing\n");
  }
}
