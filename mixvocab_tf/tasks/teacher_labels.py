"""The teacher pass of task distillation: a teacher's outputs on a transfer set, in shards.

The teacher labels every transfer example once. Examples are cut into shards of
`shard_size` rows in transfer-set order; each shard is labelled (batched by length, see
`predict_by_length`) and written atomically to
`cache_dir/teacher_<teacher key>/<shard key>.npz`, where the teacher key hashes the teacher's
files and encoding settings and the shard key hashes the shard's texts. So:

  * a killed pass resumes: the shards already written are read, the rest labelled;
  * a larger transfer set whose first rows are a smaller one's (a longer prefix of the same
    seeded sample) reuses the smaller one's full shards;
  * another teacher, or other texts, never read a stale shard.

Example:
>>> arrays, info = sharded_teacher_pass("runs/cache", key, examples, label_rows)
>>> info["shards_cached"], info["cpu_seconds"], info["examples_per_second"]
"""

import hashlib
import json
import os
import time

import numpy as np

from mixvocab_tf.file_io import write_npz_atomic

# Rows a shard: a killed pass loses at most one shard's work (the fine-tuned MiniLM labels
# about 150 SST-2-length sentences a CPU second, so a shard is about a minute of CPU).
SHARD_SIZE = 8192


def file_digest(path):
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def teacher_key(files, settings):
    """A hash of what a teacher's outputs depend on: its files and its encoding settings."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(file_digest(path).encode())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:24]


def shard_key(examples, begin, end):
    """A hash of the texts (and second texts of pairs) of rows [begin, end)."""
    digest = hashlib.sha256()
    for column in (examples.texts, examples.text_pairs):
        if column is None:
            digest.update(b"-")
            continue
        for text in column[begin:end]:
            digest.update(text.encode("utf-8") + b"\n")
    digest.update(f"{end - begin}".encode())
    return digest.hexdigest()[:24]


def _pad_to(array, width):
    if array.ndim < 2 or array.shape[1] == width:
        return array
    pad = [(0, 0), (0, width - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pad, constant_values=False if array.dtype == bool else 0)


def concatenate_shards(shards):
    """Concatenates dicts of arrays along rows; arrays of per-word outputs ([n, W, ...]) are
    padded on axis 1 to the widest shard (zeros; False for masks)."""
    arrays = {}
    for name in shards[0]:
        parts = [shard[name] for shard in shards]
        if parts[0].ndim >= 2:
            width = max(part.shape[1] for part in parts)
            parts = [_pad_to(part, width) for part in parts]
        arrays[name] = np.concatenate(parts)
    return arrays


def sharded_teacher_pass(cache_dir, key, examples, label_rows, shard_size=SHARD_SIZE,
                         log=print):
    """The teacher's arrays for `examples`, labelled shard by shard and cached.

    Args:
      cache_dir: the cache root (None: nothing is read or written).
      key: the teacher key (`teacher_key`): shards live in `cache_dir/teacher_<key>/`.
      examples: a `readers.Examples` (`texts`, `text_pairs`, `select`).
      label_rows: `label_rows(subset) -> dict of arrays`, one row an example.
      shard_size: rows a shard.
      log: called with one line when a pass resumes from shards already written.

    Returns:
      (arrays, info): info has "cache_file" (the shard folder), "cache_hit" (every shard was
      cached), "shards", "shards_cached", "examples_labelled" (rows labelled in this call),
      "cpu_seconds" and "wall_seconds" (of the labelling done in this call) and
      "examples_per_second" (labelled rows a wall second; None when nothing was labelled).
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}.")
    if not len(examples):
        raise ValueError("the transfer set is empty: nothing for the teacher to label.")
    folder = os.path.join(cache_dir, f"teacher_{key}") if cache_dir else None
    bounds = [(begin, min(begin + shard_size, len(examples)))
              for begin in range(0, len(examples), shard_size)]
    paths = [os.path.join(folder, shard_key(examples, b, e) + ".npz") if folder else None
             for b, e in bounds]
    cached = [bool(path) and os.path.isfile(path) for path in paths]
    if folder and any(cached) and not all(cached):
        log(f"teacher pass: resuming, {sum(cached)} of {len(bounds)} shards already labelled "
            f"in {folder}")
    shards, labelled = [], 0
    cpu, wall = 0.0, 0.0
    for (begin, end), path, hit in zip(bounds, paths, cached):
        if hit:
            with np.load(path) as stored:
                shards.append(dict(stored))
            continue
        cpu_start, wall_start = time.process_time(), time.time()
        arrays = label_rows(examples.select(list(range(begin, end))))
        cpu += time.process_time() - cpu_start
        wall += time.time() - wall_start
        labelled += end - begin
        if path:
            os.makedirs(folder, exist_ok=True)
            write_npz_atomic(path, **arrays)
        shards.append(arrays)
    info = {"cache_file": folder, "cache_hit": bool(folder) and all(cached),
            "shards": len(bounds), "shards_cached": sum(cached),
            "examples_labelled": labelled, "cpu_seconds": round(cpu, 2),
            "wall_seconds": round(wall, 2),
            "examples_per_second": round(labelled / wall, 1) if labelled and wall else None}
    return concatenate_shards(shards), info
