"""Runs the stage list: skips a stage whose recorded fingerprint matches and whose output
checks out, redoes changed ones (and every stage after one that ran), resumes interrupted
ones, records each stage in the state file, times it, and writes the report.

A stage's fingerprint hashes its settings chained with those of the stages it reads
(`fingerprint`), so a changed vocabulary reruns everything after it.
"""

import glob
import hashlib
import json
import os
import resource
import shutil
import time

from mixvocab_tf.file_io import write_json_atomic
from mixvocab_tf.pipeline.config import STATE_FILE
from mixvocab_tf.pipeline.config import PipelineConfig
from mixvocab_tf.pipeline.config import PipelineError
from mixvocab_tf.pipeline.config import _read_json
from mixvocab_tf.pipeline.config import _validate_inputs
from mixvocab_tf.pipeline.report import write_report
from mixvocab_tf.pipeline.stages import _ensure_teacher_vocab
from mixvocab_tf.pipeline.stages import _stages
from mixvocab_tf.training.strategy import get_strategy


def fingerprint(settings, upstream):
    """A short digest of a stage's `settings` and its inputs' fingerprints (`upstream`)."""
    text = json.dumps({"settings": settings, "upstream": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cpu_seconds():
    """User + system CPU seconds of this process and its finished children."""
    return sum(u.ru_utime + u.ru_stime for u in (
        resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def _short(summary):
    return ", ".join(f"{k}={v}" for k, v in summary.items()
                     if not isinstance(v, (dict, list)) and k != "export_dir")


def run_pipeline(config=None, log=print):
    """Runs every stage that is not done, then writes the report.

    Args:
      config: a `PipelineConfig` (default: the embedded demo).
      log: where the per-stage lines go.

    Returns:
      The report dict also written to `output_dir/report.json`.
    """
    cfg = (config or PipelineConfig()).resolved()
    _validate_inputs(cfg)
    if cfg.strategy == "multi_worker":
        # Collectives must be configured before any TensorFlow op (Stage 0 runs some).
        get_strategy(cfg.strategy)
    os.makedirs(cfg.output_dir, exist_ok=True)
    state_path = os.path.join(cfg.output_dir, STATE_FILE)
    state = _read_json(state_path) if os.path.isfile(state_path) else {}
    stages = _stages(cfg)
    fingerprints, timings = {}, {}
    started, cpu_started, load_start = time.time(), cpu_seconds(), os.getloadavg()
    for number, stage in enumerate(stages, 1):
        if stage.name == "vocab":
            _ensure_teacher_vocab(cfg, stage)
        stage_fingerprint = fingerprint(stage.settings, [fingerprints[n] for n in stage.inputs])
        fingerprints[stage.name] = stage_fingerprint
        record = state.get(stage.name, {})
        label = f"[{number}/{len(stages)}] {stage.name:<16}"
        summary = None
        upstream_ran = [n for n in stage.inputs if timings[n]["status"] == "ran"]
        if upstream_ran:
            pass  # its input was just rebuilt: redo it whatever its record says
        elif (not cfg.force and record.get("fingerprint") == stage_fingerprint
              and record.get("done")):
            try:
                summary = stage.check(stage.directory)
            except PipelineError as error:
                log(f"{label} output invalid ({error}); redoing it")
        if summary is not None:
            timings[stage.name] = {"status": "skipped", "seconds": 0.0, "cpu_seconds": 0.0,
                                   "previous_seconds": record.get("seconds"),
                                   "previous_cpu_seconds": record.get("cpu_seconds")}
            log(f"{label} skipped: done before ({_short(summary)})")
            continue
        # Changed settings (or --force) start over; an interrupted run with the same
        # settings keeps its directory so that Stage I/II resume from their checkpoints.
        if os.path.exists(stage.directory) and (
                cfg.force or upstream_ran or record.get("fingerprint") != stage_fingerprint):
            shutil.rmtree(stage.directory)
        state[stage.name] = {"fingerprint": stage_fingerprint, "done": False,
                             "settings": stage.settings}
        write_json_atomic(state_path, state)
        log(f"{label} running ...")
        stage_started, stage_cpu = time.time(), cpu_seconds()
        stage.run(stage.directory)
        seconds = round(time.time() - stage_started, 1)
        # CPU seconds as well: on a shared machine wall time says little about the stage.
        cpu = round(cpu_seconds() - stage_cpu, 1)
        try:
            summary = stage.check(stage.directory)
        except PipelineError as error:
            raise PipelineError(f"stage {stage.name} finished but its output is invalid: "
                                f"{error}") from error
        state[stage.name].update(done=True, seconds=seconds, cpu_seconds=cpu, summary=summary)
        write_json_atomic(state_path, state)
        timings[stage.name] = {"status": "ran", "seconds": seconds, "cpu_seconds": cpu}
        log(f"{label} done in {seconds:.1f} s, {cpu:.1f} CPU s ({_short(summary)})")
    machine = {"cpu_count": os.cpu_count(), "load_average_start": list(load_start),
               "load_average_end": list(os.getloadavg()),
               "cpu_seconds": round(cpu_seconds() - cpu_started, 1)}
    report = write_report(cfg, timings, time.time() - started, machine)
    log(f"report: {os.path.join(cfg.output_dir, 'report.md')} "
        f"(total {time.time() - started:.1f} s)")
    return report


def stage_directories(output_dir):
    """The stage directories present under `output_dir` (for tools and tests)."""
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(output_dir, "*"))
                  if os.path.isdir(p))
