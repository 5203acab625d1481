"""What every binary does with bad input: one line naming the problem, exit 1."""

import contextlib
import os
import sys


@contextlib.contextmanager
def exit_on_bad_input(*errors):
    """Turns the given exceptions into `<tool>: error: <message>` and exit code 1.

    The library's messages name the problem and the fix, so a traceback from
    deep inside TensorFlow would only hide them.

    Example:
    ```python
    with exit_on_bad_input(ValueError, FileNotFoundError):
        train_teacher(...)
    ```
    """
    try:
        yield
    except errors as error:
        print(f"{os.path.basename(sys.argv[0])}: error: {error}", file=sys.stderr)
        sys.exit(1)
