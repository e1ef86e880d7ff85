"""The web app behind ``litelab serve``: a JSON API over the runs folder, and one page that uses it.

API (every error is JSON ``{"error": "..."}`` with a 4xx status):

- ``GET /api/runs``: every run under the runs folder, newest first.
- ``GET /api/runs/{id}``: one run: metrics, history, config, export table, deploy verdicts
  and the names of its pictures.
- ``GET /api/runs/{id}/images/{name}``: one of those pictures (PNG).
- ``GET /api/zoo``: the shipped models.
- ``POST /api/predict``: multipart ``file`` (JPEG, PNG or WebP, any size up to the limits),
  optional ``run`` (a run id or ``zoo:<name>``; default the newest run with a model),
  ``format`` (``keras``, ``tflite-float32`` or ``tflite-int8``; default ``keras``) and
  ``top``. The fields may also be query parameters.

The page (``/``) is plain HTML, CSS and JavaScript shipped inside the package: it fetches
nothing from outside this server.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from litelab.errors import LitelabError
from litelab.serve.catalog import FORMAT_LABELS, FORMATS, Catalog, ModelRef, NotFound
from litelab.serve.uploads import (
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    UploadError,
    decode_upload,
    png_data_url,
)

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small fields around the file
MODEL_CACHE = 6  # loaded models kept in memory (a Keras CNN is a few MB)


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Models:
    """Loaded predictors, least recently used dropped first; loads each model once."""

    def __init__(self, size: int = MODEL_CACHE) -> None:
        self.size = size
        self._cache: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="litelab-serve-")

    def get(self, ref: ModelRef, fmt: str):
        from litelab.predictor import Predictor

        source = self._source_file(ref, fmt)
        key = (ref.key, fmt, str(source), source.stat().st_mtime_ns)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one load per model, however many requests ask at once
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            if fmt == "tflite-float32" and fmt not in ref.tflite:
                path = self._float_tflite(ref, source)
            else:
                path = source
            predictor = Predictor(path, labels_file=ref.labels)
            with self._lock:
                self._cache[key] = predictor
                self._loading.pop(key, None)
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
            return predictor

    @staticmethod
    def _source_file(ref: ModelRef, fmt: str) -> Path:
        if fmt not in FORMATS:
            raise BadRequest(422, f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        if fmt not in ref.formats():
            hint = ""
            if ref.kind == "run" and fmt == "tflite-int8":
                hint = f"; make it with `litelab export {ref.name}`"
            raise NotFound(f"{ref.key} has no {FORMAT_LABELS[fmt]} model{hint}")
        if fmt in ref.tflite:
            return ref.tflite[fmt]
        assert ref.keras is not None
        return ref.keras

    def _float_tflite(self, ref: ModelRef, keras_path: Path) -> Path:
        """A float32 TFLite file converted from the Keras model, in the server's temp folder
        (never in the run folder: serving writes nothing there)."""
        from litelab.export.convert import convert
        from litelab.inference import load_model

        digest = hashlib.sha256(f"{keras_path}:{keras_path.stat().st_mtime_ns}".encode())
        path = Path(self._tmp.name) / f"{digest.hexdigest()[:16]}.tflite"
        if not path.is_file():
            data = convert(load_model(keras_path), "float32")
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        return path

    def close(self) -> None:
        self._tmp.cleanup()


def create_app(
    runs_dir: str | Path = "runs",
    *,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> FastAPI:
    """The app for one runs folder; serve it with uvicorn (``litelab serve`` does)."""
    catalog = Catalog(runs_dir)
    models = Models()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        models.close()

    app = FastAPI(
        lifespan=lifespan,
        title="litelab",
        summary="Runs, comparisons and live classification for litelab models",
        docs_url=None,  # FastAPI's docs pages load their scripts from a CDN; the page must not
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.catalog = catalog
    app.state.models = models
    static = resources.files("litelab.serve") / "static"

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(UploadError)
    async def bad_upload(_: Request, exc: UploadError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(LitelabError)
    async def litelab_error(_: Request, exc: LitelabError) -> JSONResponse:
        # A model file the server cannot use (damaged, wrong shape): the request cannot be
        # served, but nothing the client sent was wrong.
        return JSONResponse({"error": str(exc)}, status_code=409)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/api/runs")
    async def list_runs() -> dict[str, Any]:
        runs = await run_in_threadpool(catalog.summaries)
        return {"root": str(catalog.root), "runs": runs}

    @app.get("/api/zoo")
    async def list_zoo() -> dict[str, Any]:
        return {"models": await run_in_threadpool(catalog.zoo)}

    @app.get("/api/runs/{run_id:path}/images/{name}")
    async def run_image(run_id: str, name: str) -> FileResponse:
        path = await run_in_threadpool(catalog.image, run_id, name)
        return FileResponse(path, media_type="image/png")

    @app.get("/api/runs/{run_id:path}")
    async def run_detail(run_id: str) -> dict[str, Any]:
        return await run_in_threadpool(catalog.detail, run_id)

    @app.post("/api/predict")
    async def predict(request: Request) -> dict[str, Any]:
        form = await _read_form(request, max_upload_bytes + FORM_OVERHEAD)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadRequest(422, "send the photo as a multipart/form-data file field named 'file'")
        data = await upload.read()
        if len(data) > max_upload_bytes:
            raise UploadError(
                413, f"the file is {len(data):,} bytes; the limit is {max_upload_bytes:,}"
            )
        fields = {k: _field(form, request, k) for k in ("run", "format", "top")}
        top = _top(fields["top"])
        ref = await run_in_threadpool(catalog.model_ref, fields["run"] or None)
        fmt = fields["format"] or "keras"
        predictor = await run_in_threadpool(models.get, ref, fmt)
        start = time.perf_counter()
        pixels, info = await run_in_threadpool(decode_upload, data, predictor.size, max_pixels)
        decode_ms = (time.perf_counter() - start) * 1000.0
        probs, model_ms = await run_in_threadpool(predictor.timed_probs, pixels[None])
        return {
            "model": {
                "id": ref.key,
                "kind": ref.kind,
                "format": fmt,
                "format_label": FORMAT_LABELS[fmt],
                "input_size": predictor.size,
                "input_dtype": predictor.dtype,
            },
            "upload": {**info, "name": upload.filename},
            "top": predictor.top(probs[0], top),
            "classes": predictor.classes,
            "probabilities": [round(float(p), 6) for p in probs[0]],
            "latency_ms": round(model_ms, 3),
            "decode_ms": round(decode_ms, 3),
            "input_image": png_data_url(pixels),
        }

    return app


async def _read_form(request: Request, limit: int):
    """The multipart form, refusing a body over ``limit`` bytes before or while reading it."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest(400, "the Content-Length header is not a number") from None
        if size > limit:
            raise UploadError(413, f"the request is {size:,} bytes; the limit is {limit:,}")
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise BadRequest(
            415, "send the photo as multipart/form-data with a file field named 'file'"
        )
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise UploadError(413, f"the request is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(0)
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    buffered = Request(request.scope, receive)
    return await buffered.form(max_files=2, max_fields=16)


def _field(form, request: Request, name: str) -> str:
    value = form.get(name)
    if value is None:
        value = request.query_params.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(422, f"field {name!r} must be text, not a file")
    return (value or "").strip()


def _top(value: str) -> int:
    if not value:
        return 3
    try:
        top = int(value)
    except ValueError:
        raise BadRequest(422, f"top must be a whole number, got {value!r}") from None
    if not 1 <= top <= 1000:
        raise BadRequest(422, f"top must be between 1 and 1000, got {top}")
    return top
