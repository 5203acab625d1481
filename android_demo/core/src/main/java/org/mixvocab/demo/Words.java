package org.mixvocab.demo;

import java.util.ArrayList;
import java.util.List;

/**
 * Whitespace-separated words with their place in the text: the unit the slot tags label.
 *
 * <p>Whitespace is MediaPipe's (RE2's {@code \s}): space, tab, newline, form feed and carriage
 * return; mixvocab-tf's {@code assistant.words_with_spans} splits the same way.
 */
public final class Words {
  private Words() {}

  /** Space, \t, \n, \f or \r. */
  public static boolean isSpace(int cp) {
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\f' || cp == '\r';
  }

  /** The words of {@code text}. */
  public static List<String> split(String text) {
    List<String> words = new ArrayList<>();
    for (int[] span : spans(text)) {
      words.add(text.substring(span[0], span[1]));
    }
    return words;
  }

  /** [begin, end) char indices of each word. */
  public static List<int[]> spans(String text) {
    List<int[]> spans = new ArrayList<>();
    int start = -1;
    for (int i = 0; i < text.length(); i++) {
      boolean space = isSpace(text.charAt(i));  // all five are single UTF-16 units
      if (!space && start < 0) {
        start = i;
      } else if (space && start >= 0) {
        spans.add(new int[] {start, i});
        start = -1;
      }
    }
    if (start >= 0) {
      spans.add(new int[] {start, text.length()});
    }
    return spans;
  }
}
