package org.mixvocab.demo.app;

import android.app.Activity;
import android.content.res.AssetFileDescriptor;
import android.os.Bundle;
import android.view.inputmethod.EditorInfo;
import android.widget.EditText;
import android.widget.TextView;
import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import org.mixvocab.demo.Assistant;
import org.mixvocab.demo.BertTokenizer;
import org.tensorflow.lite.Interpreter;

/**
 * On-device dialogue with the ids-form student: type a request, the student finds its intent
 * (and, for a joint model, its slots) on the phone, the app answers with the latency.
 *
 * <p>Assets: the bundle that {@code make demo} writes to {@code runs/demo/android/} (see
 * android_demo/README.md): {@code model.tflite}, {@code vocab.txt}, {@code labels.txt},
 * {@code replies.tsv}, {@code assistant.properties} and, for joint models,
 * {@code slot_labels.txt}. The model's {@code serving_default} signature takes
 * {@code token_ids}, {@code segment_ids} and {@code padding_mask} int32 [1, L] and returns
 * {@code logits} [1, C] (and {@code slot_logits} [1, L, T]).
 */
public class MainActivity extends Activity {
  private static final String SIGNATURE = "serving_default";

  private Interpreter interpreter;
  private BertTokenizer tokenizer;
  private Assistant assistant;
  private int sequenceLength;  // L, read from the model's input shape [1, L]
  private int numIntents;
  private int numTags;  // 0 for an intent-only model

  @Override
  protected void onCreate(Bundle savedInstanceState) {
    super.onCreate(savedInstanceState);
    setContentView(R.layout.activity_main);
    TextView transcript = findViewById(R.id.transcript);
    EditText message = findViewById(R.id.message);
    try {
      Properties config = new Properties();
      try (InputStream in = getAssets().open("assistant.properties")) {
        config.load(in);
      }
      interpreter = new Interpreter(mapAsset("model.tflite"), new Interpreter.Options().setNumThreads(1));
      sequenceLength = interpreter.getInputTensorFromSignature("token_ids", SIGNATURE).shape()[1];
      tokenizer = BertTokenizer.load(getAssets().open("vocab.txt"),
          Boolean.parseBoolean(config.getProperty("lower_case", "true")),
          BertTokenizer.Normalization.of(config.getProperty("normalization", "bert")));
      List<String> intents = readLines("labels.txt");
      numIntents = intents.size();
      String slotFile = config.getProperty("slot_labels_file", "");
      List<String> tags = slotFile.isEmpty() ? null : readLines(slotFile);
      numTags = tags == null ? 0 : tags.size();
      assistant = new Assistant(intents, tags,
          Assistant.readReplies(getAssets().open("replies.tsv")),
          Double.parseDouble(config.getProperty("threshold", "0.5")),
          Integer.parseInt(config.getProperty("max_chars", "1000")));
    } catch (IOException | RuntimeException e) {
      transcript.setText("Could not load the model assets: " + e.getMessage());
      return;
    }
    message.setOnEditorActionListener((view, actionId, event) -> {
      if (actionId != EditorInfo.IME_ACTION_SEND) {
        return false;
      }
      String text = message.getText().toString();
      long start = System.nanoTime();
      Assistant.Answer answer = answer(text);
      double ms = (System.nanoTime() - start) / 1e6;
      transcript.append("you: " + text + "\nbot: " + answer.reply
          + String.format(Locale.ROOT, "  (%s, %.1f ms)\n", answer.kind, ms));
      message.setText("");
      return true;
    });
  }

  /** Tokenise, run the model (unless the input is refused first), decode, reply. */
  private Assistant.Answer answer(String text) {
    Assistant.Answer refused = assistant.refusal(text);
    if (refused != null) {
      return refused;
    }
    BertTokenizer.Encoding encoding = tokenizer.encodeWords(text, sequenceLength);
    Map<String, Object> inputs = new HashMap<>();
    inputs.put("token_ids", new int[][] {encoding.features.tokenIds});
    inputs.put("segment_ids", new int[][] {encoding.features.segmentIds});
    inputs.put("padding_mask", new int[][] {encoding.features.paddingMask});
    float[][] logits = new float[1][numIntents];
    float[][][] slotLogits = new float[1][sequenceLength][Math.max(numTags, 1)];
    Map<String, Object> outputs = new HashMap<>();
    outputs.put("logits", logits);
    if (numTags > 0) {
      outputs.put("slot_logits", slotLogits);
    }
    interpreter.runSignature(inputs, outputs, SIGNATURE);
    return assistant.answer(text, encoding, tokenizer.unkId(), logits[0],
        numTags > 0 ? slotLogits[0] : null);
  }

  private MappedByteBuffer mapAsset(String name) throws IOException {
    try (AssetFileDescriptor fd = getAssets().openFd(name);
        FileInputStream stream = new FileInputStream(fd.getFileDescriptor())) {
      return stream.getChannel().map(
          FileChannel.MapMode.READ_ONLY, fd.getStartOffset(), fd.getDeclaredLength());
    }
  }

  private List<String> readLines(String asset) throws IOException {
    List<String> lines = new ArrayList<>();
    try (BufferedReader reader = new BufferedReader(
        new InputStreamReader(getAssets().open(asset), StandardCharsets.UTF_8))) {
      String line;
      while ((line = reader.readLine()) != null) {
        if (!line.isBlank()) {
          lines.add(line.strip());
        }
      }
    }
    return lines;
  }

  @Override
  protected void onDestroy() {
    if (interpreter != null) {
      interpreter.close();
    }
    super.onDestroy();
  }
}
