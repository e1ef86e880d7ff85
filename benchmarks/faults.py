"""Which faults litelab survives: runs the fault tests with pytest and writes, per fault kind,
what was injected, whether it was survived (the test passed) and the files lost.

The fault tests are tests/test_faults_kill.py (SIGKILL during training, saving, evaluation,
export and deploy), tests/test_faults_disk.py (ENOSPC at a checkpoint, a run file, an export
and the decoded-array cache), tests/test_faults_cache.py (a truncated or bit-flipped data
cache entry or TFLM library), tests/test_faults_concurrency.py (two runs at once while
`litelab serve` answers eight clients) and the dead-worker test of tests/test_multiworker.py.
Each test asserts that the files written before the fault are intact and that no half
file is taken as whole, so a passing test means 0 files lost; a failing one is recorded as
not survived, with its message. Writes benchmarks/results/faults.json:

    python benchmarks/faults.py            # several minutes on 2 cores
    python benchmarks/faults.py --junit existing.xml   # map a junit file already written
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from litelab.zoo.publish import cpu_name, package_versions

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "faults.json"
FILES = [
    "tests/test_faults_kill.py",
    "tests/test_faults_disk.py",
    "tests/test_faults_cache.py",
    "tests/test_faults_concurrency.py",
    "tests/test_multiworker.py::test_a_dead_worker_stops_the_job_and_the_same_command_resumes",
]

# (test name regex, category, fault kind, what is injected, what surviving means)
KINDS = [
    (r"test_kill_during_a_run_then_resume\[training", "sigkill", "SIGKILL during training",
     "kill -9 of `litelab run` once epoch 1's checkpoint is written",
     "state.json says training, serve lists it incomplete, --resume finishes all epochs"),
    (r"test_kill_during_a_run_then_resume\[saving", "sigkill", "SIGKILL during saving",
     "kill -9 of `litelab run` while it writes the final model formats",
     "state.json says saving, no half file, --resume completes the run"),
    (r"test_kill_during_evaluation", "sigkill", "SIGKILL during evaluation",
     "kill -9 of `litelab run` while it evaluates the test split",
     "state.json says evaluating, --resume writes metrics, plots and report"),
    (r"test_kill_export_halfway", "sigkill", "SIGKILL during export",
     "kill -9 of `litelab export` after its first .tflite appears",
     "no comparison.json, no half .tflite, exporting again writes all 4 files"),
    (r"test_kill_deploy_halfway", "sigkill", "SIGKILL during deploy",
     "kill -9 of `litelab deploy` after 6 of its ~12 CPU seconds",
     "no half file in the deploy folder, deploying again gives a verdict"),
    (r"test_a_deploy_killed_while_replacing", "sigkill", "death while deploy replaces sources",
     "the process dies between replacing two C sources (before the manifest)",
     "the next deploy runs (regression: it refused, taking the new file as a user edit)"),
    (r"test_a_run_file_on_a_full_disk", "enospc", "ENOSPC at a run file",
     "the disk fills while metrics.json is rewritten",
     "one-line error with path and bytes needed, old metrics.json intact, no temp left"),
    (r"test_a_checkpoint_on_a_full_disk", "enospc", "ENOSPC at a checkpoint",
     "the disk fills after epoch 1's checkpoint, before epoch 2's",
     "one-line error, epoch 1's last.keras intact, --resume after freeing space finishes"),
    (r"test_an_export_on_a_full_disk", "enospc", "ENOSPC at an export",
     "the disk fills while model_float32.tflite is written",
     "one-line error, the earlier model_int8.tflite intact, no partial float32 file"),
    (r"test_the_data_cache_on_a_full_disk", "enospc", "ENOSPC at the data cache",
     "the disk fills while the decoded-array cache is saved",
     "one warning line, the data still loads, no partial cache file, saved next time"),
    (r"test_a_damaged_entry_is_detected_rebuilt_and_never_used\[damage_truncate", "corrupt",
     "data cache entry truncated", "the .npz cache entry cut to half its bytes",
     "checksum or read fails: one warning, decoded again, entry rewritten whole"),
    (r"test_a_damaged_entry_is_detected_rebuilt_and_never_used\[damage_flip_pixel", "corrupt",
     "data cache entry bit-flipped (pixels)", "one bit of the stored training images flipped",
     "sha256 mismatch: one warning, decoded again, entry rewritten whole"),
    (r"test_a_damaged_entry_is_detected_rebuilt_and_never_used\[damage_flip_header", "corrupt",
     "data cache entry bit-flipped (zip header)", "the zip signature's bytes flipped",
     "unreadable: one warning, decoded again, entry rewritten whole"),
    (r"test_a_bit_flip_is_never_served", "corrupt", "data cache bit flip never served",
     "one bit of the stored images flipped, decoding forbidden",
     "the cache loader returns nothing rather than the flipped data"),
    (r"test_the_checksum_covers_every_array", "corrupt", "data cache checksum coverage",
     "an array reordered or reshaped", "the checksum changes"),
    (r"test_a_damaged_tflm_library_is_detected_and_rebuilt\[tflm_truncate", "corrupt",
     "TFLM build cache library truncated", "the cached libtflm-*.a loses its last 7 bytes",
     "sha256 mismatch: one warning, archived again, never linked"),
    (r"test_a_damaged_tflm_library_is_detected_and_rebuilt\[tflm_flip", "corrupt",
     "TFLM build cache library bit-flipped", "one bit in the middle of libtflm-*.a flipped",
     "sha256 mismatch: one warning, archived again, never linked"),
    (r"test_a_tflm_library_without_its_sha256", "corrupt", "TFLM library without its sha256",
     "the recorded sha256 file removed", "archived again quietly"),
    (r"test_two_processes_filling_one_entry", "concurrency", "two processes fill one cache entry",
     "two loaders decode the same archive into the same cache entry at the same moment",
     "both load 24 images, one valid entry, no temporaries"),
    (r"test_two_runs_at_once_while_serve", "concurrency", "two runs at once + serve, 8 clients",
     "two `litelab run` with one --runs-dir while 8 clients poll `litelab serve`",
     "both finish in different folders, no 5xx answer, both runs listed while written"),
    (r"test_a_dead_worker_stops_the_job", "sigkill", "SIGKILL of a multiworker worker",
     "kill -9 of worker 1 of 2 after the chief's first checkpoint",
     "the chief stops with one line, the same command resumes to the last epoch"),
]  # fmt: skip


def versions() -> dict[str, str]:
    return package_versions("tensorflow", "keras", "hypothesis", "pytest")


def disk_full_how() -> str:
    """How tests/test_faults_disk.py fills the disk here: the same probe as its SmallDisk."""
    import os
    import shutil

    if os.geteuid() == 0 and shutil.which("mount") and not os.environ.get("LITELAB_TEST_NO_MOUNT"):
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", tmp],
                                  capture_output=True, check=False)  # fmt: skip
            if done.returncode == 0:
                subprocess.run(["umount", "-l", tmp], check=False)
                return "a real 64 MiB tmpfs filled with a filler file (root, mount works)"
    return "io.open wrapped to raise OSError(ENOSPC) past a byte budget (no mount rights)"


def run_pytest(junit: Path) -> tuple[int, float]:
    started = time.monotonic()
    cmd = [sys.executable, "-m", "pytest", *FILES, "-q", "-p", "no:cacheprovider"]
    cmd += [f"--junitxml={junit}", "-o", "junit_family=xunit1"]
    print(" ".join(cmd), flush=True)
    rc = subprocess.run(cmd, cwd=ROOT, check=False).returncode
    return rc, time.monotonic() - started


def classify(name: str) -> tuple[str, str, str, str]:
    for pattern, category, kind, injected, survived_means in KINDS:
        if re.match(pattern, name):
            return category, kind, injected, survived_means
    return "other", name, "(see the test)", "(see the test)"


def cases(junit: Path) -> list[dict]:
    rows = []
    for tc in ET.parse(junit).getroot().iter("testcase"):
        name = tc.get("name", "")
        bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
        skipped = tc.find("skipped")
        result = "failed" if bad is not None else "skipped" if skipped is not None else "passed"
        category, kind, injected, means = classify(name)
        rows.append(
            {
                "fault": kind,
                "category": category,
                "injected": injected,
                "survived": result == "passed" if result != "skipped" else None,
                "files_lost": 0 if result == "passed" else None,
                "result": result,
                "checked": means,
                "test": f"{tc.get('classname', '').replace('.', '/')}.py::{name}",
                "seconds": round(float(tc.get("time", 0.0)), 1),
                **({"message": (bad.get("message") or "")[:300]} if bad is not None else {}),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--junit", type=Path, help="map this junit XML instead of running pytest")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    seconds = None
    rc = None
    with tempfile.TemporaryDirectory() as tmp:
        junit = args.junit or Path(tmp) / "faults.xml"
        if args.junit is None:
            rc, seconds = run_pytest(junit)
        rows = cases(junit)
    survived = sum(1 for r in rows if r["survived"])
    result = {
        "what": "fault injection: SIGKILL, ENOSPC, corrupt cache files, concurrency",
        "command": "python benchmarks/faults.py  (pytest " + " ".join(FILES) + ")",
        "cpu": cpu_name(),
        "cores": __import__("os").cpu_count(),
        "versions": versions(),
        "disk_full_injected_as": disk_full_how(),
        "pytest_exit_code": rc,
        "seconds": None if seconds is None else round(seconds, 1),
        "summary": {
            "faults": len(rows),
            "survived": survived,
            "not_survived": sum(1 for r in rows if r["survived"] is False),
            "skipped": sum(1 for r in rows if r["survived"] is None),
            "files_lost": sum(r["files_lost"] or 0 for r in rows),
        },
        "files_lost_means": "files written before the fault that were lost or left half "
        "written and taken as whole; each test asserts there are none, so a passing test "
        "records 0 and a failing one null",
        "faults": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{survived} of {len(rows)} faults survived; wrote {args.out}")


if __name__ == "__main__":
    main()
