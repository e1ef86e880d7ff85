"""How long the CLI takes to answer (``litelab --help``, ``models``, ``zoo``) and how long
``import litelab`` takes in a notebook (it must stay under 0.5 s, TensorFlow unloaded).

Median of N runs of each, as fresh processes (what a user waits for). With ``--before REF``
the same commands also run from a git worktree of REF (e.g. the commit before the CLI
package), in the same benchmark run, so the two are compared on the same machine.

    .venv/bin/python benchmarks/startup.py --runs 5 --before 7dbcd62
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from litelab.zoo.publish import cpu_name  # the CPU model every result records

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"--help": ["--help"], "models": ["models"], "zoo": ["zoo"]}
# Python snippets timed the same way; each prints one JSON line of facts that the result
# records (here: which heavy frameworks ``import litelab`` loaded; the goal is none).
HEAVY = ("tensorflow", "keras")
SNIPPETS = {
    "import litelab": (
        f"import json, sys, litelab; print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
}
IMPORT_GOAL_S = 0.5  # issue 18: `python -c "import litelab"` under 0.5 s, TensorFlow unloaded
CLI = "import sys; from litelab.cli import main; sys.exit(main())"
NOISE = ("oneDNN", "absl", "cpu_feature_guard", "InitializeLog")


def measure(src: Path, argv: list[str], runs: int, code: str = CLI) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    env.pop("LITELAB_TF_LOGS", None)
    times, noisy, facts = [], 0, {}
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", code, *argv],
            capture_output=True,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed ({proc.returncode}): {proc.stderr[-500:]}")
        noisy = max(noisy, sum(any(n in ln for n in NOISE) for ln in proc.stderr.splitlines()))
        if code != CLI:  # a snippet: its last line is a JSON object; True wins over runs
            last = json.loads(proc.stdout.strip().splitlines()[-1])
            facts = {k: bool(facts.get(k)) or bool(v) for k, v in last.items()}
    return {
        "median_s": round(statistics.median(times), 3),
        "runs_s": [round(t, 3) for t in times],
        "tensorflow_log_lines": noisy,
        **({"imported": facts} if facts else {}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--before", help="a git ref to measure beside the working tree")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "startup.json"))
    args = ap.parse_args()
    result = {
        "cpu": cpu_name(),
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "runs": args.runs,
        "now": {},
    }
    trees = {"now": ROOT / "src"}
    tmp = None
    if args.before:
        tmp = Path(tempfile.mkdtemp(prefix="litelab-before-"))
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tmp / "wt"), args.before],
            check=True,
            capture_output=True,
        )
        trees["before"] = tmp / "wt" / "src"
        result["before"] = {"ref": args.before}
    try:
        for label, src in trees.items():
            for name, argv in COMMANDS.items():
                result[label][name] = measure(src, argv, args.runs)
                print(
                    f"{label:>6} litelab {name:<7} median {result[label][name]['median_s']:.3f} s"
                    f"  TF log lines {result[label][name]['tensorflow_log_lines']}"
                )
            for name, code in SNIPPETS.items():
                r = result[label][name] = measure(src, [], args.runs, code=code)
                loaded = [m for m, yes in r["imported"].items() if yes] or ["nothing heavy"]
                print(
                    f"{label:>6} {name:<15} median {r['median_s']:.3f} s  loads {', '.join(loaded)}"
                )
    finally:
        if tmp is not None:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "wt")],
                capture_output=True,
            )
    now = result["now"]["import litelab"]
    result["import_goal"] = {
        "goal_s": IMPORT_GOAL_S,
        "median_s": now["median_s"],
        "tensorflow_imported": now["imported"]["tensorflow"],
        "keras_imported": now["imported"]["keras"],
        "met": now["median_s"] < IMPORT_GOAL_S and not any(now["imported"].values()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    if not result["import_goal"]["met"]:
        raise SystemExit(f"import litelab misses its goal: {result['import_goal']}")


if __name__ == "__main__":
    main()
