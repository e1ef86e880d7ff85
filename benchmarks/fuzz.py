"""The fuzz properties of tests/test_fuzz.py with many more examples.

The properties are not copied here: tests/test_fuzz.py is run by pytest under its ``bench``
hypothesis profile (``LITELAB_FUZZ_PROFILE=bench``, ``LITELAB_FUZZ_EXAMPLES=N``,
derandomized, so a run is reproducible), and its ``LITELAB_FUZZ_STATS`` file says how many
inputs each property tried and how many ended in a valid result or litelab's one-line error.
A property that finds a failure (a traceback, a hang, a file written outside its output
folder) fails its test; the junit XML gives its falsifying example. The deploy property runs
a third of N (each input is a whole deploy). Writes benchmarks/results/fuzz.json:

    python benchmarks/fuzz.py                 # N=1000: a few minutes on 2 cores
    python benchmarks/fuzz.py --examples 300  # under a minute
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from litelab.zoo.publish import cpu_name, package_versions

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "fuzz.json"
TESTS = "tests/test_fuzz.py"

# test function -> the names its inputs are counted under (case() in tests/test_fuzz.py)
PROPERTIES = {
    "test_npz_files": ["npz"],
    "test_cifar_python_archives": ["cifar-python"],
    "test_cifar_binary_archives": ["cifar-binary"],
    "test_image_folders_and_archives": ["image-folders"],
    "test_single_images": ["single-image"],
    "test_toml_files": ["toml-config", "toml-space", "toml-plan"],
    "test_predict_uploads": ["predict-upload"],
    "test_tflite_files_given_to_inspect": ["tflite-inspect"],
    "test_tflite_files_given_to_deploy": ["tflite-deploy"],
}

# Found by these properties earlier and fixed; each keeps an @example in tests/test_fuzz.py.
FIXED = [
    {
        "property": "test_toml_files",
        "input": 'kind="config", text="training = 0\\n"',
        "was": "a TypeError traceback: a config whose [training] (or [data]) is a number, "
        "not a table",
        "fix": "src/litelab/config.py: '[training] of the config must be a table of "
        "key = value', litelab's one-line error",
        "regression_test": "tests/test_fuzz.py::test_toml_files "
        '@example(text="training = 0\\n", kind="config") and "data = 0\\n"',
    }
]


def versions() -> dict[str, str]:
    return package_versions(
        "tensorflow", "keras", "hypothesis", "numpy", "pillow", "ai-edge-litert"
    )


def failure(bad: ET.Element) -> dict[str, str]:
    """The exception's first line and hypothesis's falsifying input, from the junit XML."""
    message = (bad.get("message") or "").strip()
    text = bad.text or ""
    example = ""
    for marker in ("Falsifying example:", "Failing test case:"):
        if marker in text:
            lines = text.split(marker, 1)[1].splitlines()
            kept = [ln.strip().removeprefix("E").strip() for ln in lines[1:40]]
            kept = [ln for ln in kept if ln and not ln.startswith(("tmp_path_factory", "_"))]
            example = " ".join(kept).split(" )", 1)[0][:1500]
            break
    return {"failure": message.splitlines()[0][:500] if message else "", "falsifying": example}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--examples", type=int, default=1000, help="hypothesis examples per property")
    p.add_argument("-k", default=None, help="only the properties pytest -k selects")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        stats, junit = Path(tmp) / "stats.json", Path(tmp) / "fuzz.xml"
        env = {
            **os.environ,
            "LITELAB_FUZZ_PROFILE": "bench",
            "LITELAB_FUZZ_EXAMPLES": str(args.examples),
            "LITELAB_FUZZ_STATS": str(stats),
        }
        cmd = [sys.executable, "-m", "pytest", TESTS, "-q", "-p", "no:cacheprovider"]
        cmd += [f"--junitxml={junit}", "-o", "junit_family=xunit1", f"--basetemp={tmp}/t"]
        if args.k:
            cmd += ["-k", args.k]
        print(" ".join(cmd), flush=True)
        started = time.monotonic()
        rc = subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode
        seconds = time.monotonic() - started
        counts = json.loads(stats.read_text()) if stats.is_file() else {}
        cases = {tc.get("name"): tc for tc in ET.parse(junit).getroot().iter("testcase")}

    tried, outcomes = counts.get("tried", {}), counts.get("outcomes", {})
    rows = []
    for test, names in PROPERTIES.items():
        tc = cases.get(test)
        if tc is None:
            continue
        bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
        rows.append(
            {
                "property": test,
                "inputs_tried": sum(tried.get(n, 0) for n in names),
                "valid_results": sum(outcomes.get(f"{n}:valid", 0) for n in names),
                "one_line_errors": sum(outcomes.get(f"{n}:error", 0) for n in names),
                "failures_found": 0 if bad is None else 1,
                **(failure(bad) if bad is not None else {}),
                "seconds": round(float(tc.get("time", 0.0)), 1),
            }
        )
    result = {
        "what": "hypothesis fuzzing of the data loaders, TOML files, /api/predict uploads "
        "and .tflite files given to inspect and deploy (the properties of tests/test_fuzz.py)",
        "command": f"python benchmarks/fuzz.py --examples {args.examples}",
        "examples_per_property": args.examples,
        "examples_deploy_property": max(3, args.examples // 3),
        "note": "inputs_tried counts every input a property ran, shrinking included; a "
        "failure stops its property, so failures_found is 0 or 1 per property",
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "versions": versions(),
        "pytest_exit_code": rc,
        "seconds": round(seconds, 1),
        "total": {
            "inputs_tried": sum(r["inputs_tried"] for r in rows),
            "failures_found": sum(r["failures_found"] for r in rows),
        },
        "properties": rows,
        "failures_fixed": FIXED,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    total = result["total"]
    print(
        f"{total['inputs_tried']} inputs, {total['failures_found']} failures in {seconds:.0f} s;"
        f" wrote {args.out}"
    )


if __name__ == "__main__":
    main()
