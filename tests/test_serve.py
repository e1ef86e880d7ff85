"""`litelab serve`'s JSON API: runs, run pages, predictions equal to `litelab predict`,
bad uploads, traversal attempts, and a server that keeps answering after all of them."""

from __future__ import annotations

import io
import json
import socket

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from litelab.cli import main
from litelab.jobs import predict_files
from litelab.serve.app import create_app
from litelab.serve.catalog import Catalog, NotFound


def image_bytes(fmt: str = "PNG", size=(32, 32), color=(220, 30, 30), noise: int = 0) -> bytes:
    rng = np.random.default_rng(1)
    arr = np.zeros((size[1], size[0], 3), np.uint8) + np.array(color, np.uint8)
    if noise:
        arr = np.clip(arr.astype(int) + rng.integers(-noise, noise, arr.shape), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def client(served_runs):
    with TestClient(create_app(served_runs)) as c:
        yield c


def post(client, data: bytes, name: str = "photo.png", **fields):
    return client.post("/api/predict", files={"file": (name, data)}, data=fields)


# ------------------------------------------------------------------------ runs
def test_runs_list_newest_first_with_the_figures_a_user_compares(client, served_runs) -> None:
    body = client.get("/api/runs").json()
    assert body["root"] == str(served_runs.resolve())
    ids = [r["id"] for r in body["runs"]]
    assert ids == ["b-lenet", "a-tiny"]
    tiny = body["runs"][1]
    metrics = json.loads((served_runs / "a-tiny" / "metrics.json").read_text())
    assert tiny["model"] == "tiny"
    assert tiny["test_accuracy"] == metrics["test_accuracy"]
    assert tiny["params"] == metrics["params"]
    assert tiny["int8_bytes"] == (served_runs / "a-tiny/export/model_int8.tflite").stat().st_size
    assert tiny["verdicts"][0]["target"] == "esp-eye"
    assert tiny["verdicts"][0]["fits"] is True and tiny["verdicts"][0]["tier"] == "internal-heap"
    assert tiny["formats"] == ["keras", "tflite-float32", "tflite-int8"]
    lenet = body["runs"][0]
    assert lenet["int8_bytes"] is None and lenet["verdicts"] == []
    assert lenet["formats"] == ["keras", "tflite-float32"]  # float TFLite is converted on demand


def test_run_page_data_holds_history_matrix_export_table_verdict_and_pictures(
    client, served_runs
) -> None:
    r = client.get("/api/runs/a-tiny")
    assert r.status_code == 200
    run = r.json()
    assert len(run["history"]["val_accuracy"]) == run["epochs"] == 3
    assert np.asarray(run["metrics"]["confusion_matrix"]).sum() == run["metrics"]["num_test"]
    assert {row["format"] for row in run["export"]["rows"]} >= {"tflite-float32", "tflite-int8"}
    report = json.loads((served_runs / "a-tiny/deploy/esp-eye/deploy.json").read_text())
    assert run["deploy"][0]["verdict"]["line"] == report["verdict"]["line"]
    assert run["deploy"][0]["verdict"]["tier"] == report["verdict"]["tier"] == "internal-heap"
    assert [t["tier"] for t in run["deploy"][0]["verdict"]["tiers"]][0] == "internal-heap"
    assert run["deploy"][0]["arena_bytes"] == report["arena_bytes"] > 0
    names = [im["name"] for im in run["images"]]
    assert {"confusion_matrix.png", "per_class_accuracy.png", "comparison.png"} <= set(names)
    for name in names:
        png = client.get(f"/api/runs/a-tiny/images/{name}")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        assert png.headers["content-type"] == "image/png"


def test_runs_in_nested_folders_are_found_and_a_missing_folder_is_empty(tmp_path) -> None:
    nested = tmp_path / "runs" / "tune-1" / "best"
    nested.mkdir(parents=True)
    (nested / "metrics.json").write_text(json.dumps({"test_accuracy": 0.5, "model": "cnn"}))
    (tmp_path / "runs" / "empty").mkdir()
    assert list(Catalog(tmp_path / "runs").run_dirs()) == ["tune-1/best"]
    with TestClient(create_app(tmp_path / "runs")) as c:
        assert c.get("/api/runs/tune-1/best").json()["test_accuracy"] == 0.5
    with TestClient(create_app(tmp_path / "missing")) as c:
        assert c.get("/api/runs").json()["runs"] == []
        r = c.post("/api/predict", files={"file": ("a.png", image_bytes())})
        assert r.status_code == 404 and "no run with a model" in r.json()["error"]


def test_an_interrupted_run_is_listed_incomplete_with_its_state(tmp_path, served_runs) -> None:
    """A run killed while training (state.json says so, no metrics yet) is a row with
    ``complete: false`` and its state, which the page shows as "incomplete (training)"."""
    import shutil

    from litelab.runs import Run

    root = tmp_path / "runs"
    shutil.copytree(served_runs / "a-tiny", root / "done")
    killed = root / "killed"
    killed.mkdir()
    shutil.copy(served_runs / "a-tiny" / "config.toml", killed / "config.toml")
    Run(killed).write_state("training")
    with TestClient(create_app(root)) as c:
        rows = {r["id"]: r for r in c.get("/api/runs").json()["runs"]}
        assert rows["killed"]["complete"] is False and rows["killed"]["state"] == "training"
        assert rows["killed"]["test_accuracy"] is None
        assert rows["done"]["complete"] is True and rows["done"]["state"] == "finished"
        app_js = c.get("/static/app.js").text
    assert "incomplete (${state})" in app_js and "r.complete === false" in app_js


# ------------------------------------------------------------------------ traversal
@pytest.mark.parametrize(
    "path",
    [
        "/api/runs/..",
        "/api/runs/%2E%2E",
        "/api/runs/%2E%2E%2Fsecret",
        "/api/runs/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/runs/%2Fetc%2Fpasswd",
        "/api/runs/a-tiny%2F..%2F..%2Fsecret",
        "/api/runs/a-tiny/images/..%2Fconfig.toml",
        "/api/runs/a-tiny/images/config.toml",
        "/api/runs/a-tiny/images/model.keras",
        "/api/runs/a-tiny/images/%2Fetc%2Fpasswd",
        "/api/runs/%2E%2E/images/secret.png",
        "/api/runs/a-tiny/export",
    ],
)
def test_ids_and_names_cannot_leave_the_runs_folder(client, served_runs, path) -> None:
    secret = served_runs.parent / "secret"
    secret.write_text("TOP SECRET")
    r = client.get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert "TOP SECRET" not in r.text and "root:" not in r.text
    assert "error" in r.json()


def test_a_symlink_out_of_the_runs_folder_is_not_a_run(tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "metrics.json").write_text("{}")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "link").symlink_to(outside)
    catalog = Catalog(tmp_path / "runs")
    assert catalog.run_dirs() == {}
    with pytest.raises(NotFound):
        catalog.run_dir("link")
    with pytest.raises(NotFound):
        catalog.run_ref("../outside")
    with pytest.raises(NotFound):
        catalog.model_ref(str(outside))


# ------------------------------------------------------------------------ predictions
@pytest.mark.parametrize(
    ("fmt", "model_file"),
    [
        ("keras", "model.keras"),
        ("tflite-float32", "export/model_float32.tflite"),
        ("tflite-int8", "export/model_int8.tflite"),
    ],
)
def test_predictions_equal_litelab_predict(client, served_runs, tmp_path, fmt, model_file) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes("JPEG", size=(200, 150), color=(40, 60, 200), noise=60))
    r = post(client, photo.read_bytes(), "photo.jpg", run="a-tiny", format=fmt, top="2")
    assert r.status_code == 200, r.text
    body = r.json()
    cli = predict_files(served_runs / "a-tiny" / model_file, [photo], top=2)[0]["top"]
    assert body["top"] == cli
    assert body["model"] == {
        "id": "a-tiny",
        "kind": "run",
        "format": fmt,
        "format_label": body["model"]["format_label"],
        "input_size": 32,
        "input_dtype": "int8" if fmt == "tflite-int8" else "float32",
    }
    assert body["upload"] == {
        "format": "JPEG",
        "width": 200,
        "height": 150,
        "bytes": photo.stat().st_size,
        "name": "photo.jpg",
    }
    assert body["classes"] == ["red", "blue"]
    assert abs(sum(body["probabilities"]) - 1) < 1e-5
    assert body["latency_ms"] > 0
    seen = Image.open(io.BytesIO(__import__("base64").b64decode(body["input_image"].split(",")[1])))
    assert seen.size == (32, 32)


def test_predict_matches_the_cli_json_output_for_a_zoo_model(client, tmp_path, capsys) -> None:
    photo = tmp_path / "ship.webp"
    photo.write_bytes(image_bytes("WEBP", size=(96, 64), color=(30, 90, 160), noise=40))
    assert main(["predict", "--model", "zoo:mcu", str(photo), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)[0]["top"]
    r = post(client, photo.read_bytes(), "ship.webp", run="zoo:mcu")
    assert r.status_code == 200, r.text
    assert r.json()["top"] == cli
    assert r.json()["model"]["kind"] == "zoo" and r.json()["model"]["format"] == "keras"


def test_without_run_or_format_the_newest_run_in_keras_is_used(client, served_runs) -> None:
    r = post(client, image_bytes(color=(230, 20, 20), noise=30))
    assert r.status_code == 200, r.text
    assert r.json()["model"]["id"] == "b-lenet" and r.json()["model"]["format"] == "keras"
    assert r.json()["top"][0]["class"] == "red"


def test_float_tflite_of_an_unexported_run_is_converted_without_touching_the_run(
    client, served_runs
) -> None:
    before = sorted(p.relative_to(served_runs) for p in (served_runs / "b-lenet").rglob("*"))
    photo = image_bytes(color=(20, 20, 230), noise=30)
    keras = post(client, photo, run="b-lenet", format="keras").json()
    tflite = post(client, photo, run="b-lenet", format="tflite-float32").json()
    assert tflite["model"]["format"] == "tflite-float32"
    assert tflite["top"][0]["class"] == keras["top"][0]["class"] == "blue"
    np.testing.assert_allclose(tflite["probabilities"], keras["probabilities"], atol=1e-4)
    after = sorted(p.relative_to(served_runs) for p in (served_runs / "b-lenet").rglob("*"))
    assert after == before


# ------------------------------------------------------------------------ bad input
def test_bad_uploads_get_clear_4xx_answers_and_the_server_keeps_serving(client, tmp_path) -> None:
    good = image_bytes()
    whole = image_bytes("JPEG", size=(300, 300), noise=80)
    truncated = whole[: len(whole) // 2]
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")  # 400 megapixels, ~50 KB
    assert len(bomb.getvalue()) < 1_000_000
    cases = [
        (post(client, b"just some text, not a picture", "notes.txt"), 415, "not a JPEG, PNG"),
        (post(client, image_bytes("GIF"), "anim.gif"), 415, "not a JPEG, PNG"),
        (post(client, b"", "empty.png"), 422, "empty"),
        (post(client, truncated, "cut.jpg"), 422, "truncated or corrupt"),
        (post(client, whole[:300], "header.jpg"), 422, "header is broken"),
        (post(client, bomb.getvalue(), "bomb.png"), 413, "pixels"),
        (post(client, good, run="no-such-run"), 404, "no run 'no-such-run'"),
        (post(client, good, run="../../etc"), 404, "no run"),
        (post(client, good, run="zoo:nope"), 404, "no zoo model"),
        (post(client, good, run="a-tiny", format="onnx"), 422, "unknown format"),
        (post(client, good, run="b-lenet", format="tflite-int8"), 404, "litelab export b-lenet"),
        (post(client, good, top="0"), 422, "top must be"),
        (post(client, good, top="many"), 422, "top must be"),
        (client.post("/api/predict", data={"run": "a-tiny"}), 415, "multipart"),
        (client.post("/api/predict", files={"photo": ("a.png", good)}), 422, "named 'file'"),
        (client.post("/api/predict", content=b"x" * 100), 415, "multipart"),
        (client.get("/api/predict"), 405, ""),
        (client.get("/api/nothing-here"), 404, ""),
    ]
    for response, status, words in cases:
        assert response.status_code == status, (words, response.status_code, response.text)
        assert words in response.json()["error"]
    r = post(client, good, run="a-tiny")
    assert r.status_code == 200 and r.json()["top"][0]["class"] == "red"


def test_a_damaged_model_file_is_one_error_and_other_models_still_answer(
    served_runs, tmp_path
) -> None:
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(served_runs / "b-lenet", runs / "broken", ignore=shutil.ignore_patterns("s*"))
    (runs / "broken" / "model.keras").write_bytes(b"PK\x03\x04 this is not a whole zip")
    with TestClient(create_app(runs)) as c:
        r = post(c, image_bytes(), run="broken")
        assert r.status_code == 409 and "model" in r.json()["error"]
        assert post(c, image_bytes(), run="zoo:mcu").status_code == 200
        assert c.get("/api/runs/broken").status_code == 200


def test_upload_and_pixel_limits_are_enforced(served_runs) -> None:
    app = create_app(served_runs, max_upload_bytes=4000, max_pixels=10_000)
    with TestClient(app) as c:
        big = image_bytes("PNG", size=(64, 64), noise=120)
        assert len(big) > 4000
        r = post(c, big)
        assert r.status_code == 413 and "limit" in r.json()["error"]
        wide = image_bytes("PNG", size=(200, 100))  # 20,000 pixels, few bytes
        assert len(wide) < 4000
        r = post(c, wide)
        assert r.status_code == 413 and "200x100" in r.json()["error"]
        r = c.post(
            "/api/predict",
            content=b"0" * 10,
            headers={
                "content-type": "multipart/form-data; boundary=x",
                "content-length": "99999999",
            },
        )
        assert r.status_code == 413
        assert post(c, image_bytes()).status_code == 200


def test_the_page_and_its_assets_are_served_from_the_package(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/app.js">' in page.text
    for asset in ("/static/app.js", "/static/app.css"):
        r = client.get(asset)
        assert r.status_code == 200 and len(r.text) > 500
    everything = page.text + client.get("/static/app.js").text + client.get("/static/app.css").text
    assert "http://" not in everything.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in everything
    assert client.get("/api/docs").status_code == 404  # its Swagger page would load a CDN
    assert "/api/predict" in client.get("/api/openapi.json").json()["paths"]


# ------------------------------------------------------------------------ the command
def test_serve_refuses_a_taken_port_and_a_missing_runs_folder(tmp_path, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--runs", str(tmp_path), "--port", str(port)]) == 2
    assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err
    assert main(["serve", "--runs", str(tmp_path / "nope")]) == 2
    assert "runs folder not found" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["serve", "--runs", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["serve", "--runs", str(tmp_path), "--max-upload-mb", "0"]) == 2
    assert main(["serve", "--runs", str(tmp_path), "--port", "70000"]) == 2


# ------------------------------------------------------------------------ the real server
def _request(url: str, method: str, path: str, body: bytes = b"", headers=None, chunked=False):
    """One raw HTTP request to the live server; (status, JSON body or None)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        if chunked:
            conn.putrequest(method, path)
            for key, value in (headers or {}).items():
                conn.putheader(key, value)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for start in range(0, len(body), 1 << 20):
                piece = body[start : start + (1 << 20)]
                try:
                    conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                except (BrokenPipeError, ConnectionResetError):
                    break  # the server answered early and closed: read its answer
            else:
                conn.send(b"0\r\n\r\n")
        else:
            conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, None
    finally:
        conn.close()


def test_the_live_server_refuses_oversized_and_malformed_requests_and_keeps_serving(
    live_server,
) -> None:
    boundary = "litelabtest"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    big = head + b"\0" * (11 * 1024 * 1024) + f"\r\n--{boundary}--\r\n".encode()
    ctype = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    status, body = _request(live_server, "POST", "/api/predict", big, ctype)
    assert status == 413 and "limit" in body["error"]
    # The same without a Content-Length: counted while it streams in.
    status, body = _request(live_server, "POST", "/api/predict", big, ctype, chunked=True)
    assert status == 413 and "limit" in body["error"]
    # A form whose closing boundary never comes, and one with no boundary at all.
    status, _ = _request(live_server, "POST", "/api/predict", head + b"abc", ctype)
    assert 400 <= status < 500
    status, _ = _request(
        live_server,
        "POST",
        "/api/predict",
        b"whatever",
        {"Content-Type": "multipart/form-data"},
    )
    assert 400 <= status < 500
    # Not HTTP at all.
    from urllib.parse import urlsplit

    parts = urlsplit(live_server)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as raw:
        raw.sendall(b"\x16\x03\x01 this is not http\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    status, body = _request(live_server, "GET", "/api/runs")
    assert status == 200 and [r["id"] for r in body["runs"]] == ["b-lenet", "a-tiny"]
    good = image_bytes(color=(30, 30, 220))
    files = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="run"\r\n\r\na-tiny\r\n'.encode()
        + head
        + good
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, body = _request(live_server, "POST", "/api/predict", files, ctype)
    assert status == 200 and body["top"][0]["class"] == "blue"


def test_a_model_file_cannot_run_code_when_the_server_loads_it(tmp_path) -> None:
    import keras

    marker = tmp_path / "pwned"
    inputs = keras.Input((32, 32, 3))
    # Python bytecode inside the file that leaves a mark wherever it runs.
    touch = eval(f"lambda t: (open({str(marker)!r}, 'w').close(), t)[1]")  # noqa: S307
    x = keras.layers.Lambda(touch)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    run = tmp_path / "runs" / "lambda"
    run.mkdir(parents=True)
    model.save(run / "model.keras")
    (run / "labels.txt").write_text("a\nb\n")
    marker.unlink()  # building the model ran it once, here, on purpose
    with TestClient(create_app(tmp_path / "runs")) as c:
        r = post(c, image_bytes(), run="lambda")
        assert r.status_code == 409
        assert "safe_mode" in r.json()["error"] or "Lambda" in r.json()["error"]
        # An uploaded model is only ever an image that fails to decode.
        upload = post(c, (run / "model.keras").read_bytes(), "model.keras", run="zoo:mcu")
        assert upload.status_code == 415
    assert not marker.exists()
