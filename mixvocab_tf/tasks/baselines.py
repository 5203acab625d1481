"""The TF-IDF + logistic-regression floor that every student table keeps beside it.

Word 1-2-gram TF-IDF (sublinear tf) and `LogisticRegression(C=10)`, trained on the same
examples as the student and scored with `scoring.classification_metrics`, so its accuracy,
F1 and MCC mean what the student's do. A sentence pair is one shared vectorizer over both
sentences: the n-grams one has and the other lacks (|a - b|) beside the pair's cosine. On MRPC
dev this scores 75.25 against 71.08 for the first sentence alone (the majority class is 68.4)
and 70.83 for the sum and product of the two vectors (`docs/RESULTS.md`).

scikit-learn is in `requirements.txt`; the import is late so that the library itself does
not need it.

Example:
>>> task = task_registry.get_task("mrpc")
>>> tfidf_logistic_regression(task, task.read(data_dir, "train"), task.read(data_dir, "dev"))
{'accuracy': 0.7..., 'f1': 0.8...}
"""

from mixvocab_tf.tasks import scoring
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks.selection import select_examples
from mixvocab_tf.tasks.selection import select_per_class


def tfidf_logistic_regression(task, train, evaluated, regularization=10.0):
    """Trains the floor on `train` (`readers.Examples`) and scores it on `evaluated`.

    Args:
      task: the `task_registry.Task` (its type and metrics).
      train: the training examples (a few-shot draw if the student had one).
      evaluated: the scored split.
      regularization: logistic regression's C.

    Returns:
      The task's classification metrics (accuracy, plus F1 / MCC where the task names them).

    Raises:
      ValueError: a task that is not (pair) classification.
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    pairs = task.type == task_registry.PAIR_CLASSIFICATION
    if task.type != task_registry.CLASSIFICATION and not pairs:
        raise ValueError(f"the TF-IDF floor scores (pair) classification; {task.name} is "
                         f"{task.type}. Fix: compare a tagging task with its slot F1 tables.")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    vectorizer.fit(list(train.texts) + (list(train.text_pairs) if pairs else []))

    def features(examples):
        first = vectorizer.transform(examples.texts)
        if not pairs:
            return first
        second = vectorizer.transform(examples.text_pairs)
        cosine = first.multiply(second).sum(axis=1)  # rows are unit vectors
        return sparse.hstack([abs(first - second), sparse.csr_matrix(cosine)]).tocsr()

    labels = sorted(set(train.labels))
    classifier = LogisticRegression(max_iter=2000, C=regularization)
    classifier.fit(features(train), scoring.gold_label_ids(train.labels, labels))
    predicted = classifier.predict(features(evaluated))
    return scoring.classification_metrics(
        task, labels, scoring.gold_label_ids(evaluated.labels, labels), predicted)


def tfidf_floor(task_name, data_dir, seeds, examples_per_class=None, max_train_examples=None,
                max_eval_examples=None):
    """The floor's accuracy on the training examples `finetune` draws for each seed (a
    per-class few-shot draw, then at most `max_train_examples` at random), scored on the
    task's default eval split: the mean over the seeds' draws, or one score when every seed
    trains on the whole split.

    Example:
    >>> tfidf_floor("banking77", data_dir, seeds=[0, 1, 2], examples_per_class=10)
    0.667...
    """
    task = task_registry.get_task(task_name)
    train = task.read(data_dir, "train")
    evaluated = task.read(data_dir, task_registry.default_eval_split(task)).take(
        max_eval_examples)

    def draw(seed):  # the order finetune selects in
        examples = (select_per_class(train, examples_per_class, seed) if examples_per_class
                    else train)
        return select_examples(examples, max_train_examples, "random", seed)

    varies = examples_per_class or max_train_examples
    scores = [tfidf_logistic_regression(task, draw(seed), evaluated)["accuracy"]
              for seed in (seeds if varies else seeds[:1])]
    return sum(scores) / len(scores)
