"""Atomic writes: a failed or killed write never leaves a half-written output."""

import io
import json
import os
import shutil
import tempfile

import numpy as np


def write_text_atomic(path, text):
    """Writes `text` (UTF-8) to `path` through a temp file in the same directory."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path, data):
    """Writes the bytes `data` to `path` through a temp file in the same directory."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_npz_atomic(path, **arrays):
    """Writes NumPy arrays as an .npz file (`np.savez`), atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def read_json(path):
    """The JSON value in the file at `path` (UTF-8)."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_json_atomic(path, value):
    """Writes `value` as indented JSON (sorted keys), atomically."""
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def replace_directory(staging, target):
    """Renames the complete directory `staging` onto `target`.

    A directory cannot be renamed over a non-empty one, so an existing
    `target` is moved aside first and removed only after the swap.
    """
    backup = None
    if os.path.exists(target):
        backup = tempfile.mkdtemp(
            dir=os.path.dirname(os.path.abspath(target)), prefix=f".{os.path.basename(target)}.old-"
        )
        os.rmdir(backup)
        os.replace(target, backup)
    os.replace(staging, target)
    if backup:
        shutil.rmtree(backup, ignore_errors=True)


def write_directory_atomic(directory, write_fn, keep_existing=False):
    """Calls `write_fn(staging_dir)`, then renames the staging dir to `directory`.

    A failure leaves no partial `directory`; an existing one is replaced only
    after the new one is complete.

    Args:
      directory: the target.
      write_fn: writes the complete directory into the path it is given.
      keep_existing: for content-addressed caches that several processes may fill at
        once (e.g. parallel test workers): if `directory` exists by the time the new
        copy is complete, the new copy is dropped and the existing one, which readers
        may already hold, is left in place.
    """
    parent = os.path.dirname(os.path.abspath(directory))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(directory) + ".tmp-")
    try:
        write_fn(staging)
        if keep_existing:
            try:
                # Fails on an existing non-empty directory: another writer finished first.
                os.rename(staging, directory)
            except OSError:
                if not os.path.isdir(directory):
                    raise
                shutil.rmtree(staging, ignore_errors=True)
        else:
            replace_directory(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
