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
import java.io.InputStreamReader;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.mixvocab.demo.BertTokenizer;
import org.mixvocab.demo.Replies;
import org.tensorflow.lite.Interpreter;

/**
 * On-device dialogue with the ids-form student: type a request, the student classifies its
 * intent on the phone, the app answers.
 *
 * <p>Assets, from {@code tools/export_tflite.py --input=ids} (any {@code --sequence_length}:
 * it is read from the model):
 * {@code model.tflite}, {@code vocab.txt}, {@code labels.txt}; and {@code replies.tsv}.
 * The model's {@code serving_default} signature takes {@code token_ids}, {@code segment_ids}
 * and {@code padding_mask} int32 [1, L] and returns {@code probabilities} [1, C].
 */
public class MainActivity extends Activity {
  private static final String SIGNATURE = "serving_default";

  private Interpreter interpreter;
  private BertTokenizer tokenizer;
  private Replies replies;
  private int sequenceLength;  // L, read from the model's input shape [1, L]
  private int numLabels;

  @Override
  protected void onCreate(Bundle savedInstanceState) {
    super.onCreate(savedInstanceState);
    setContentView(R.layout.activity_main);
    TextView transcript = findViewById(R.id.transcript);
    EditText message = findViewById(R.id.message);
    try {
      interpreter = new Interpreter(mapAsset("model.tflite"), new Interpreter.Options().setNumThreads(1));
      sequenceLength = interpreter.getInputTensorFromSignature("token_ids", SIGNATURE).shape()[1];
      tokenizer = BertTokenizer.load(getAssets().open("vocab.txt"), true);
      List<String> labels = readLines("labels.txt");
      numLabels = labels.size();
      replies = Replies.load(getAssets().open("replies.tsv"), labels, 0.5f);
    } catch (IOException e) {
      transcript.setText("Could not load the model assets: " + e.getMessage());
      return;
    }
    message.setOnEditorActionListener((view, actionId, event) -> {
      if (actionId != EditorInfo.IME_ACTION_SEND) {
        return false;
      }
      String text = message.getText().toString();
      long start = System.nanoTime();
      String answer = replies.reply(classify(text));
      double ms = (System.nanoTime() - start) / 1e6;
      transcript.append("you: " + text + "\nbot: " + answer + String.format(" (%.1f ms)\n", ms));
      message.setText("");
      return true;
    });
  }

  private float[] classify(String text) {
    BertTokenizer.Features features = tokenizer.encode(text, sequenceLength);
    Map<String, Object> inputs = new HashMap<>();
    inputs.put("token_ids", new int[][] {features.tokenIds});
    inputs.put("segment_ids", new int[][] {features.segmentIds});
    inputs.put("padding_mask", new int[][] {features.paddingMask});
    float[][] probabilities = new float[1][numLabels];
    Map<String, Object> outputs = new HashMap<>();
    outputs.put("probabilities", probabilities);
    interpreter.runSignature(inputs, outputs, SIGNATURE);
    return probabilities[0];
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
