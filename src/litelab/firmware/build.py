"""Compile TFLite Micro for one model: its core plus only the kernels the model uses.

The ops come from the resolver registrations of the generated ``main.cc``
(``resolver.AddConv2D()`` ...). Each ``Add...`` method of TFLM's
``MicroMutableOpResolver`` names the ``Register_...`` functions it calls; the kernel files
that define those (an optimized folder's file replacing the reference one of the same name,
as TFLM's ``specialize_files.py`` does) and their ``*_common.cc`` siblings are compiled.

Objects are cached under ``<cache>/tflm/build/<tree>/<toolchain>-<flags hash>/`` and a
static library per kernel set beside them, so the second build of a configuration only
links. Each library's sha256 is recorded beside it (``libtflm-*.a.sha256``); a library
that no longer matches (truncated, bit-flipped) is reported in one warning line and
archived again, never linked. A lock file keeps two processes from building into one entry
at the same time.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from litelab.errors import LitelabError
from litelab.files import sha256_file
from litelab.firmware.sources import Tree, cache_root, lock

MICRO = "tensorflow/lite/micro"
_REGISTRATION = re.compile(r"resolver\.(Add[A-Za-z0-9]+)\(\)")
_METHOD = re.compile(r"TfLiteStatus\s+(Add[A-Za-z0-9]+)\s*\(")
_REGISTER_CALL = re.compile(r"\bRegister_([A-Z0-9_]+)\s*\(")
_REGISTER_DEF = re.compile(
    r"^\s*(?:const\s+)?TFLMRegistration\s*\*?\s*Register_([A-Z0-9_]+)\s*\(\s*\)\s*\{", re.M
)
# Core files that are tests, test helpers or a platform's own hooks (replaced per target).
_NOT_CORE = re.compile(
    r"(_test|test_helpers|test_helper_custom_ops|fake_micro_context|mock_micro_graph)\.cc$"
)
PLATFORM_HOOKS = ("debug_log.cc", "micro_time.cc", "system_setup.cc")
# Kernel helpers every model needs.
_KERNEL_ALWAYS = ("kernel_util.cc", "micro_tensor_utils.cc")


@dataclass(frozen=True)
class Toolchain:
    """How to compile for one target. ``kernels`` picks the optimized kernel folder."""

    name: str
    cc: str
    cxx: str
    ar: str
    flags: tuple[str, ...]  # C and C++
    cxxflags: tuple[str, ...] = ()
    cflags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    kernels: str = "reference"  # "reference", "cmsis_nn" or "esp_nn"
    platform_hooks: bool = True  # compile TFLM's default debug_log/micro_time/system_setup
    includes: tuple[str, ...] = ()  # extra tree parts whose include folders are needed

    def key(self) -> str:
        text = "\n".join(
            [
                self.cc,
                self.cxx,
                *self.flags,
                *self.cxxflags,
                *self.cflags,
                self.kernels,
                str(self.platform_hooks),
                _compiler_version(self.cxx),
            ]
        )
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


_VERSIONS: dict[str, str] = {}


def _compiler_version(exe: str) -> str:
    if exe not in _VERSIONS:
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
            _VERSIONS[exe] = out.stdout.splitlines()[0] if out.stdout else exe
        except OSError:
            _VERSIONS[exe] = exe
    return _VERSIONS[exe]


def require(tool: str, packages: str) -> str:
    """The path of ``tool`` on PATH, else a one-line error naming the apt packages."""
    path = shutil.which(tool)
    if path is None:
        raise LitelabError(f"{tool} not found on PATH; install it: apt-get install {packages}")
    return path


def registered_methods(main_cc: str) -> list[str]:
    """``AddConv2D``, ... : the resolver methods a generated main.cc calls, in order."""
    return list(dict.fromkeys(_REGISTRATION.findall(main_cc)))


def resolver_table(tree: Tree) -> dict[str, list[str]]:
    """MicroMutableOpResolver's methods -> the Register_ functions each one calls."""
    text = (tree.tflm / MICRO / "micro_mutable_op_resolver.h").read_text(encoding="utf-8")
    starts = [(m.start(), m.group(1)) for m in _METHOD.finditer(text)]
    table: dict[str, list[str]] = {}
    for (pos, name), nxt in zip(starts, [*starts[1:], (len(text), "")], strict=True):
        calls = _REGISTER_CALL.findall(text[pos : nxt[0]])
        if calls:
            table[name] = list(dict.fromkeys(calls))
    return table


def kernel_dirs(tree: Tree, kernels: str) -> list[Path]:
    """The kernel folders, optimized first: cmsis_nn and esp_nn replace reference files."""
    base = tree.tflm / MICRO / "kernels"
    if kernels == "reference":
        return [base]
    if kernels == "cmsis_nn":
        return [base / "cmsis_nn", base]
    if kernels == "esp_nn":
        return [tree["esp-tflite-micro"] / MICRO / "kernels" / "esp_nn", base]
    raise LitelabError(f"unknown kernel set {kernels!r}")


def _kernel_files(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(folder.glob("*.cc")) if not p.name.endswith("_test.cc")}


def kernel_sources(tree: Tree, methods: list[str], kernels: str = "reference") -> list[Path]:
    """The kernel .cc files for ``methods``; an op TFLM lacks is a one-line error."""
    table = resolver_table(tree)
    dirs = kernel_dirs(tree, kernels)
    files: dict[str, Path] = {}
    for folder in reversed(dirs):  # optimized folders override by file name
        files.update(_kernel_files(folder))
    defines: dict[str, str] = {}
    for name, path in files.items():
        for reg in _REGISTER_DEF.findall(path.read_text(encoding="utf-8", errors="replace")):
            defines.setdefault(reg, name)
    chosen: list[str] = list(_KERNEL_ALWAYS)
    for method in methods:
        if method not in table:
            op = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", method[3:]).upper()
            raise LitelabError(
                f"TFLite Micro (this tree: {tree.tflm}) has no kernel for op {op} "
                f"(no MicroMutableOpResolver::{method}); the board program cannot run this model"
            )
        for reg in table[method]:
            if reg not in defines:
                raise LitelabError(f"no kernel file in {dirs[0]} defines Register_{reg}()")
            stem = defines[reg].removesuffix(".cc")
            chosen += [defines[reg]] + [n for n in (f"{stem}_common.cc",) if n in files]
    return [files[n] for n in dict.fromkeys(chosen) if n in files]


def core_sources(tree: Tree, toolchain: Toolchain) -> list[Path]:
    """TFLM's runtime without kernels (the Makefile's MICROLITE_CC_BASE_SRCS)."""
    micro = tree.tflm / MICRO
    out = []
    for folder in (
        micro,
        micro / "arena_allocator",
        micro / "memory_planner",
        micro / "tflite_bridge",
    ):
        for p in sorted(folder.glob("*.cc")):
            if _NOT_CORE.search(p.name):
                continue
            if folder == micro and p.name in PLATFORM_HOOKS and not toolchain.platform_hooks:
                continue
            out.append(p)
    lite = tree.tflm / "tensorflow"
    for p in sorted(lite.rglob("*.c*")):
        rel = p.relative_to(tree.tflm).as_posix()
        if p.suffix not in (".cc", ".c") or rel.startswith(
            ("tensorflow/lite/micro/", "tensorflow/lite/experimental/")
        ):
            continue
        if rel == "tensorflow/lite/array.cc" or _NOT_CORE.search(p.name):
            continue
        out.append(p)
    return out


def third_party_sources(
    tree: Tree, toolchain: Toolchain, folders: list[str] | None = None
) -> list[Path]:
    """CMSIS-NN's int8 C sources (those in ``folders`` of its Source/, or all), or ESP-NN's
    portable C ("ansi") ones."""
    if toolchain.kernels == "cmsis_nn":
        src = tree["cmsis_nn"] / "Source"
        return [
            p
            for p in sorted(src.rglob("*.c"))
            if not p.name.endswith(("_f16.c", "_f32.c"))
            and p.name != "arm_nntables_flt.c"
            and (folders is None or p.relative_to(src).parts[0] in folders)
        ]
    if toolchain.kernels == "esp_nn":  # what esp_nn.h maps the plain ESP32 to: C, no assembly
        src = tree["esp-nn"] / "src"
        return [p for p in sorted(src.rglob("*.c")) if p.name.endswith(("_ansi.c", "_opt.c"))]
    return []


def include_flags(tree: Tree, toolchain: Toolchain) -> list[str]:
    incs = [tree.tflm, tree["flatbuffers"] / "include", tree["gemmlowp"], tree["ruy"]]
    if toolchain.kernels == "cmsis_nn":
        cmsis = tree["cmsis"]
        incs += [
            cmsis,
            tree["cmsis_nn"],
            cmsis / "CMSIS" / "Core" / "Include",
            tree["cmsis_nn"] / "Include",
        ]
    if toolchain.kernels == "esp_nn":
        from litelab.firmware.program import harness_path

        incs += [
            tree["esp-nn"] / "include",
            tree["esp-nn"] / "src" / "common",
            harness_path("esp_stub"),
        ]
    return [f"-I{p}" for p in incs]


@dataclass
class Library:
    """A built TFLM: the static library and the flags to compile a program against it."""

    path: Path
    toolchain: Toolchain
    compile_flags: list[str]
    sources: int  # files in it
    compiled: int  # of which compiled in this build (0: everything came from the cache)
    seconds: float = 0.0
    kernel_files: list[str] = field(default_factory=list)


def _obj_name(tree: Tree, src: Path) -> str:
    for part, root in tree.parts.items():
        try:
            rel = src.relative_to(root)
        except ValueError:
            continue
        return f"{part}/{rel.as_posix()}.o"
    return f"other/{hashlib.sha256(str(src).encode()).hexdigest()[:12]}-{src.name}.o"


def compile_one(src: Path, obj: Path, toolchain: Toolchain, flags: list[str]) -> None:
    """Compile ``src`` into ``obj`` (written beside and renamed: never a half object)."""
    cpp = src.suffix in (".cc", ".cpp")
    exe = toolchain.cxx if cpp else toolchain.cc
    lang = list(toolchain.cxxflags if cpp else toolchain.cflags)
    obj.parent.mkdir(parents=True, exist_ok=True)
    tmp = obj.with_name(f".{obj.name}.{os.getpid()}.tmp")
    cmd = [exe, *toolchain.flags, *lang, *flags, "-c", str(src), "-o", str(tmp)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise LitelabError(
            f"compiling {src.name} for {toolchain.name} failed: {first_error(done.stderr)}"
        )
    tmp.replace(obj)


def first_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if "error" in ln.lower():
            return ln[:300]
    return (lines[0] if lines else "no compiler message")[:300]


def compile_all(
    jobs_list: list[tuple[Path, Path]], toolchain: Toolchain, flags: list[str], jobs: int
) -> None:
    if not jobs_list:
        return
    from concurrent.futures import FIRST_EXCEPTION, wait

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(compile_one, s, o, toolchain, flags) for s, o in jobs_list]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in pending:  # the first error stops the build
            f.cancel()
    errors = [f.exception() for f in done if f.exception() is not None]
    if errors:
        raise errors[0]


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def library_digest_path(lib: Path) -> Path:
    """Where the sha256 of a cached library is recorded: ``<lib>.sha256`` beside it."""
    return lib.with_name(lib.name + ".sha256")


def archive_library(lib: Path, objects: list[Path], ar: str) -> None:
    """Archive ``objects`` into ``lib`` (written beside and renamed: never a half library)
    and record its sha256 in :func:`library_digest_path`."""
    digest = library_digest_path(lib)
    tmp = lib.with_name(f".{lib.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    done = subprocess.run(
        [ar, "rcs", str(tmp), *(str(o) for o in objects)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise LitelabError(f"archiving the TFLM library failed: {first_error(done.stderr)}")
    sha = sha256_file(tmp)
    digest.unlink(missing_ok=True)  # a stale sha256 never vouches for the new library
    tmp.replace(lib)
    digest_tmp = digest.with_name(f".{digest.name}.{os.getpid()}.tmp")
    digest_tmp.write_text(sha + "\n")
    digest_tmp.replace(digest)


def cached_library_ok(lib: Path) -> bool:
    """Whether the cached library ``lib`` may be used: it exists and its bytes match the
    sha256 recorded when it was written. A truncated or bit-flipped library is one warning
    line and False (the caller archives it again from its objects); one without a recorded
    sha256 (written by an older litelab, or killed before recording it) is rebuilt quietly."""
    if not lib.is_file():
        return False
    try:
        recorded = library_digest_path(lib).read_text().strip()
    except OSError:
        return False
    try:
        actual = sha256_file(lib)
    except OSError as exc:
        actual = f"unreadable: {type(exc).__name__}"
    if actual == recorded:
        return True
    print(
        f"litelab: warning: the TFLM build cache {lib} is damaged (sha256 mismatch); "
        "not using it, building it again",
        file=sys.stderr,
    )
    return False


def build_library(
    tree: Tree,
    toolchain: Toolchain,
    methods: list[str],
    *,
    extra_sources: list[Path] | None = None,
    cmsis_folders: list[str] | None = None,
    core_from: Toolchain | None = None,
    jobs: int | None = None,
    progress=None,
) -> Library:
    """The static TFLM library for ``methods`` on ``toolchain``, from the cache if built.

    ``cmsis_folders`` limits CMSIS-NN's sources to those folders of its Source/ (the ones
    the model's kernels call); None compiles all of them. ``core_from``: take TFLM's core
    (everything but the kernels and their libraries) from that toolchain's cache entry,
    compiled with its flags (the ESP-NN host build shares the reference build's core).
    """
    import time

    start = time.monotonic()
    kernels = kernel_sources(tree, methods, toolchain.kernels)
    third = third_party_sources(tree, toolchain, cmsis_folders)
    core = core_sources(tree, core_from or toolchain)
    sources = core + kernels + third + list(extra_sources or [])
    flags = include_flags(tree, toolchain)
    root = cache_root() / "build" / tree.ident / toolchain.key()
    core_root = root if core_from is None else cache_root() / "build" / tree.ident / core_from.key()
    in_core = set(core) if core_from is not None else set()
    objs = [
        (s, (core_root if s in in_core else root) / "obj" / _obj_name(tree, s)) for s in sources
    ]
    names = sorted(str(o.relative_to(cache_root())) for _, o in objs)
    lib = root / f"libtflm-{hashlib.sha256(chr(10).join(names).encode()).hexdigest()[:12]}.a"
    with lock(root):
        todo = [(s, o) for s, o in objs if not o.is_file()]
        if todo and progress:
            progress(
                f"compiling TFLite Micro for {toolchain.name}: {len(todo)} of {len(objs)} files"
            )
        if core_from is not None:
            with lock(core_root):
                todo_core = [(s, o) for s, o in todo if s in in_core and not o.is_file()]
                compile_all(
                    todo_core, core_from, include_flags(tree, core_from), jobs or default_jobs()
                )
        compile_all(
            [(s, o) for s, o in todo if s not in in_core], toolchain, flags, jobs or default_jobs()
        )
        if todo or not cached_library_ok(lib):
            archive_library(lib, [o for _, o in objs], toolchain.ar)
    return Library(
        lib,
        toolchain,
        flags,
        len(objs),
        len(todo),
        time.monotonic() - start,
        [f"{k.parent.name}/{k.name}" if k.parent.name != "kernels" else k.name for k in kernels],
    )


def link_program(
    lib: Library,
    sources: list[Path],
    out: Path,
    *,
    flags: list[str] | None = None,
    ldflags: list[str] | None = None,
    jobs: int | None = None,
) -> Path:
    """Compile ``sources`` (the program) against ``lib`` and link them into ``out``."""
    work = out.parent / f"{out.name}.obj"
    work.mkdir(parents=True, exist_ok=True)
    objs = [(s, work / f"{i:02d}-{s.name}.o") for i, s in enumerate(sources)]
    compile_all(objs, lib.toolchain, [*(flags or []), *lib.compile_flags], jobs or default_jobs())
    cmd = [
        lib.toolchain.cxx,
        *lib.toolchain.flags,
        *(str(o) for _, o in objs),
        str(lib.path),
        *lib.toolchain.ldflags,
        *(ldflags or []),
        "-o",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LitelabError(f"linking {out.name} failed: {first_error(done.stderr)}")
    return out
