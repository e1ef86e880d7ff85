"""The package's shape: imports run one way, no private names cross modules, the CLI starts
instantly and quietly."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "litelab"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(imported litelab module, names taken from it) for every import, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("litelab")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            if not mod.startswith("litelab"):
                continue
            names = [a.name for a in node.names]
            subs = [n for n in names if f"{mod}.{n}" in MODULES]
            found += [(f"{mod}.{n}", []) for n in subs]
            rest = [n for n in names if n not in subs]
            if rest or not subs:
                found.append((mod, rest))
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for mod, _ in _imports(name, path):
            while mod not in MODULES and "." in mod:
                mod = mod.rpartition(".")[0]
            if mod != name and mod in MODULES:
                graph[name].add(mod)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_walker_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_litelab_modules():
    graph = _graph()
    assert len(graph) > 50  # the walk saw the package
    assert "litelab.cli.common" in graph["litelab.cli.training"]
    assert _cycles(graph) == []


def test_no_module_imports_a_private_name_of_another():
    bad = []
    for name, path in MODULES.items():
        for mod, names in _imports(name, path):
            bad += [
                f"{name} imports {mod}.{n}"
                for n in names
                if n.startswith("_") and not n.startswith("__")
            ]
            if mod.rpartition(".")[2].startswith("_") and not mod.endswith("__"):
                bad.append(f"{name} imports private module {mod}")
    assert bad == []


def _run_python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LITELAB_TF_LOGS",)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def test_building_the_parser_imports_nothing_heavy():
    proc = _run_python(
        "import sys; from litelab.cli import build_parser; build_parser(); "
        "import litelab.models, litelab.tune, litelab.export, litelab.serve, litelab.data; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules))"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


TF_NOISE = ("oneDNN", "absl", "cpu_feature_guard", "InitializeLog")


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["models"],
        ["run", "--model", "no-such-model"],
        ["predict", "--model", "zoo:mcu", "no-such-photo.jpg"],
    ],
)
def test_no_tensorflow_log_line_reaches_stderr(argv, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("LITELAB_TF_LOGS",)}
    proc = subprocess.run(
        [sys.executable, "-m", "litelab.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert not [line for line in proc.stderr.splitlines() if any(n in line for n in TF_NOISE)]
    if argv != ["--help"] and argv != ["models"]:
        assert proc.returncode == 2
        assert proc.stderr.startswith("litelab: error: ")
        assert len(proc.stderr.strip().splitlines()) == 1


def test_a_command_that_imports_tensorflow_is_quiet_and_verbose_lets_it_through(tmp_path):
    code = (
        "import sys; from litelab.cli.common import quiet_tensorflow; "
        "quiet_tensorflow(verbose='-v' in sys.argv); import tensorflow as tf; "
        "print(int(tf.reduce_sum(tf.constant([1, 2]))))"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("LITELAB_TF_LOGS", "TF_CPP_MIN_LOG_LEVEL")
    }
    quiet = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert quiet.returncode == 0 and quiet.stdout.strip() == "3"
    assert not [ln for ln in quiet.stderr.splitlines() if any(n in ln for n in TF_NOISE)]
    loud = subprocess.run(
        [sys.executable, "-c", code, "-v"], capture_output=True, text=True, env=env, timeout=300
    )
    assert loud.returncode == 0
    # this TensorFlow build announces itself on import (absl's InitializeLog line everywhere,
    # cpu_feature_guard or oneDNN depending on the CPU); --verbose must not hide it
    assert any(n in ln for ln in loud.stderr.splitlines() for n in TF_NOISE)


def test_the_cli_lists_agree_with_the_library():
    from litelab.cli import board, export

    assert "tflite-int8" in export.FORMATS
    assert "esp-eye" in board.TARGETS


def test_the_model_catalogue_matches_the_models():
    from litelab.models import catalog

    assert catalog.rows() == catalog.build_rows()


def test_run_out_names_the_run_folder(tmp_path, toy_npz=None):
    from litelab.cli import build_parser

    args = build_parser().parse_args(["run", "--out", str(tmp_path / "mine"), "--epochs", "1"])
    assert args.out == str(tmp_path / "mine")
    for verb in (
        ["evaluate", "--model", "m.keras"],
        ["export", "x"],
        ["deploy", "x"],
        ["tune"],
        ["experiment"],
        ["basics", "linear"],
    ):
        assert build_parser().parse_args([*verb, "--out", "d"]).out == "d"
