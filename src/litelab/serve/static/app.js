// litelab serve: the page. Plain JavaScript, no libraries; it talks only to this server's /api.
"use strict";

const view = document.getElementById("view");
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777",
                "#65a30d", "#4b5563", "#ea580c"];

// ---------------------------------------------------------------- small helpers
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const svgNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children.flat(Infinity)) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
async function api(path, options) {
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}
const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(2) + "%");
const num = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US"));
const kb = (v) => (v === null || v === undefined ? "–" : (v / 1024).toFixed(1) + " KB");
const enc = (id) => encodeURIComponent(id);
const runPath = (id) => "/api/runs/" + id.split("/").map(enc).join("/");
function verdictCell(verdicts) {
  if (!verdicts || !verdicts.length) return h("span", { class: "muted" }, "not deployed");
  return h("span", {}, verdicts.map((v, i) => h("span", { class: v.fits ? "fits" : "nofit", title: v.line },
    (i ? ", " : "") + `${v.target}: ${v.fits ? "fits" : "does not fit"}${v.fits && v.tier ? ` (${v.tier})` : ""}`)));
}
// A board with a memory map (the ESP-EYE): where the arena can live, and the latency estimate.
function tierDetails(v) {
  const parts = [];
  if (v.tiers && v.tiers.length) {
    parts.push(h("table", { class: "tiers" },
      h("thead", {}, h("tr", {}, ["tier", "memory", "bytes", "arena fits"].map((c) => h("th", {}, c)))),
      h("tbody", {}, v.tiers.map((t) => h("tr", { class: t.tier === v.tier ? "current" : null },
        h("td", {}, h("code", {}, t.tier)), h("td", {}, t.what), h("td", { class: "num" }, num(t.budget)),
        h("td", { class: t.fits ? "fits" : "nofit" }, t.fits ? "yes" : "no"))))));
  }
  if (v.latency) parts.push(h("p", { class: "muted" }, v.latency.line));
  return parts;
}
// A run killed or still being written (state.json): grey, never a figure or an error.
function incompleteLabel(state) {
  const what = !state || state === "incomplete" ? "incomplete" : `incomplete (${state})`;
  return h("span", { class: "incomplete", title: "litelab run --resume RUN_FOLDER continues it" }, what);
}
function fail(err) {
  view.replaceChildren(h("p", { class: "error", id: "error" }, String(err.message || err)));
}

// ---------------------------------------------------------------- router
function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  const page = parts[0] || "runs";
  const nav = page === "run" ? "runs" : page;
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === nav));
  let done;
  if (page === "runs") done = showRuns();
  else if (page === "run") done = showRun(decodeURIComponent(parts.slice(1).join("/")));
  else if (page === "compare") done = showCompare(params.getAll("id"));
  else if (page === "classify") done = showClassify(params);
  else done = Promise.reject(new Error("no such page: " + hash));
  done.catch(fail);
}
window.addEventListener("hashchange", route);

// ---------------------------------------------------------------- runs list
const RUN_COLUMNS = [
  ["id", "Run", (r) => h("a", { href: "#/run/" + enc(r.id), class: "run-link" }, r.id)],
  ["model", "Model", (r) => r.model || "–"],
  ["data", "Data", (r) => h("span", { class: "muted" }, r.data || "–")],
  ["date", "Date", (r) => (r.date || "–").replace("T", " ")],
  ["test_accuracy", "Test acc.", (r) => r.complete === false ? incompleteLabel(r.state) : pct(r.test_accuracy), "num"],
  ["params", "Params", (r) => num(r.params), "num"],
  ["int8_bytes", "int8 size", (r) => kb(r.int8_bytes), "num"],
  ["verdict", "Fits target", (r) => verdictCell(r.verdicts)],
];
let runSort = { key: "date", dir: -1 };

async function showRuns() {
  const data = await api("/api/runs");
  document.getElementById("root").textContent = data.root;
  if (!data.runs.length) {
    view.replaceChildren(h("h1", {}, "Runs"), h("p", { id: "no-runs" },
      `No runs in ${data.root} yet. Train one with `, h("code", {}, "litelab run"),
      ", or classify photos with a shipped model under ", h("a", { href: "#/classify" }, "Classify"), "."));
    return;
  }
  const selected = new Set();
  const compareBtn = h("button", { id: "compare-selected", disabled: true, onclick: () => {
    location.hash = "#/compare?" + [...selected].map((id) => "id=" + enc(id)).join("&");
  } }, "Compare selected");
  const tbody = h("tbody");
  const sortValue = (r, key) => key === "verdict" ? (r.verdicts.length ? (r.verdicts[0].fits ? 1 : 0) : -1) : r[key];
  function fill() {
    const rows = [...data.runs].sort((a, b) => {
      const x = sortValue(a, runSort.key), y = sortValue(b, runSort.key);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * runSort.dir;
    });
    tbody.replaceChildren(...rows.map((r) => h("tr", { "data-run": r.id },
      h("td", {}, h("input", { type: "checkbox", "aria-label": "select " + r.id, checked: selected.has(r.id),
        onchange: (e) => { e.target.checked ? selected.add(r.id) : selected.delete(r.id);
                           compareBtn.disabled = selected.size < 2; } })),
      RUN_COLUMNS.map(([, , cell, cls]) => h("td", { class: cls }, cell(r))))));
    head.querySelectorAll("th.sortable").forEach((th) => {
      const key = th.dataset.key;
      th.lastChild.textContent = key === runSort.key ? (runSort.dir > 0 ? " ▲" : " ▼") : "";
    });
  }
  const head = h("tr", {}, h("th", {}, ""), RUN_COLUMNS.map(([key, label, , cls]) =>
    h("th", { class: "sortable " + (cls || ""), "data-key": key, onclick: () => {
      runSort = { key, dir: runSort.key === key ? -runSort.dir : (key === "id" || key === "model" ? 1 : -1) };
      fill();
    } }, label, h("span", {}, ""))));
  const table = h("table", { id: "runs-table" }, h("thead", {}, head), tbody);
  fill();
  view.replaceChildren(h("h1", {}, "Runs"),
    h("div", { class: "controls" }, compareBtn, h("span", { class: "muted" },
      `${data.runs.length} run${data.runs.length === 1 ? "" : "s"}; click a header to sort, tick two or more to compare`)),
    table);
}

// ---------------------------------------------------------------- charts (SVG from JSON)
function lineChart(series, { title, yLabel, yFormat = (v) => v.toFixed(2), width = 520, height = 260 }) {
  const pad = { l: 48, r: 12, t: 10 + 13 * series.length, b: 30 };
  const pts = series.flatMap((sr) => sr.values.map((v, i) => [i + 1, v]).filter(([, v]) => v !== null && isFinite(v)));
  if (!pts.length) return h("p", { class: "muted" }, "no history to draw");
  const xMax = Math.max(...pts.map((p) => p[0]), 2);
  let yMin = Math.min(...pts.map((p) => p[1])), yMax = Math.max(...pts.map((p) => p[1]));
  if (yMin === yMax) { yMin -= 0.5; yMax += 0.5; }
  const X = (x) => pad.l + ((x - 1) / (xMax - 1)) * (width - pad.l - pad.r);
  const Y = (y) => height - pad.b - ((y - yMin) / (yMax - yMin)) * (height - pad.t - pad.b);
  const svg = s("svg", { width: "100%", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  svg.append(s("text", { x: pad.l, y: 14 }, title));
  for (let k = 0; k <= 4; k++) {
    const v = yMin + (k / 4) * (yMax - yMin);
    svg.append(s("line", { x1: pad.l, x2: width - pad.r, y1: Y(v), y2: Y(v), stroke: "#e5e7eb" }),
               s("text", { x: 4, y: Y(v) + 4 }, yFormat(v)));
  }
  const step = Math.max(1, Math.ceil(xMax / 10));
  for (let x = 1; x <= xMax; x += step) svg.append(s("text", { x: X(x) - 3, y: height - 12 }, x));
  svg.append(s("text", { x: width - pad.r - 40, y: height - 1 }, "epoch"));
  series.forEach((sr, i) => {
    const color = sr.color || COLORS[i % COLORS.length];
    const d = sr.values.map((v, j) => (v === null || !isFinite(v) ? null : `${X(j + 1)},${Y(v)}`)).filter(Boolean);
    if (d.length) svg.append(s("polyline", { points: d.join(" "), fill: "none", stroke: color, "stroke-width": 2,
                                              "stroke-dasharray": sr.dashed ? "5 4" : "" }));
    const lx = width - pad.r - 150, ly = 4 + i * 13;
    svg.append(s("rect", { x: lx, y: ly + 4, width: 12, height: 3, fill: color }),
               s("text", { x: lx + 16, y: ly + 9 }, sr.name));
  });
  return svg;
}

function barsList(items, { highlight = 0, format = pct } = {}) {
  const max = Math.max(...items.map((it) => it.value), 1e-9);
  return h("div", { class: "bars" }, items.map((it, i) => [
    h("span", { class: "bar-label" }, it.label),
    h("div", {}, h("div", { class: "bar" + (i < highlight ? " top" : ""), style: `width:${(100 * it.value) / max}%` })),
    h("span", { class: "num" }, format(it.value)),
  ]));
}

function confusionTable(cm, classes) {
  const max = Math.max(...cm.flat(), 1);
  return h("table", { class: "cm", id: "confusion-matrix" },
    h("tr", {}, h("th", {}, "true \\ predicted"), classes.map((c) => h("th", {}, c))),
    cm.map((row, i) => h("tr", {}, h("th", {}, classes[i]), row.map((v, j) => {
      const a = v / max;
      const bg = i === j ? `rgba(22,163,74,${0.15 + 0.85 * a})` : `rgba(220,38,38,${a})`;
      return h("td", { style: `background:${bg};color:${a > 0.55 ? "#fff" : "inherit"}` }, v);
    }))));
}

function exportTable(exp) {
  const cols = [["format", "Format"], ["size_bytes", "Bytes", num], ["test_accuracy", "Test acc.", pct],
                ["accuracy_change", "Δ vs Keras (pp)", (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(2))],
                ["agreement", "Agrees with Keras", (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(2) + "%")], ["latency_ms_median", "Latency (ms)",
                (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(3))], ["note", "Note"]];
  return h("div", {}, h("table", { id: "export-table" },
    h("tr", {}, cols.map(([, label]) => h("th", {}, label))),
    exp.rows.map((r) => h("tr", {}, cols.map(([k, , f]) => h("td", { class: f ? "num" : "" }, f ? f(r[k]) : (r[k] ?? "")))))),
    h("p", { class: "muted" }, `${exp.data_source || ""} ${exp.num_test ? "· " + num(exp.num_test) + " test images" : ""}`));
}

function historyCurves(hist, runs) {
  // hist: list of {name, history}; draws val accuracy and val loss (train dashed when one run).
  const one = runs.length === 1;
  const acc = [], loss = [];
  runs.forEach((r, i) => {
    const c = COLORS[i % COLORS.length];
    const hs = r.history || {};
    if (hs.val_accuracy) acc.push({ name: one ? "validation" : r.id, values: hs.val_accuracy, color: c });
    if (one && hs.accuracy) acc.push({ name: "train", values: hs.accuracy, color: c, dashed: true });
    if (hs.val_loss) loss.push({ name: one ? "validation" : r.id, values: hs.val_loss, color: c });
    if (one && hs.loss) loss.push({ name: "train", values: hs.loss, color: c, dashed: true });
  });
  return h("div", { class: "grid2", id: "curves" },
    h("div", { class: "card" }, lineChart(acc, { title: one ? "Accuracy" : "Validation accuracy", yFormat: (v) => (100 * v).toFixed(0) + "%" })),
    h("div", { class: "card" }, lineChart(loss, { title: one ? "Loss" : "Validation loss" })));
}

// ---------------------------------------------------------------- one run
async function showRun(id) {
  const r = await api(runPath(id));
  const m = r.metrics || {};
  const classes = m.classes || [];
  const parts = [h("h1", { id: "run-title" }, r.id),
    h("div", { class: "stats" },
      [["Test accuracy", pct(r.test_accuracy), "stat-accuracy"], ["Model", r.model || "–"], ["Params", num(r.params)],
       ["int8 size", kb(r.int8_bytes)], ["Epochs", r.epochs ?? "–"], ["Top-3", pct(m.top3_accuracy)],
       ["Macro F1", m.macro_f1 === undefined ? "–" : m.macro_f1.toFixed(3)]]
        .map(([k, v, idn]) => h("div", { class: "stat" }, k, h("b", { id: idn }, v)))),
    h("p", { class: "muted" }, r.data || "", " · ", r.date || ""),
    h("div", { class: "controls" },
      r.formats.length ? h("a", { href: "#/classify?run=" + enc(r.id), id: "classify-this" }, h("button", {}, "Classify photos with this run")) : null,
      h("a", { href: "#/compare?id=" + enc(r.id) }, h("button", { class: "secondary" }, "Compare with others…")))];
  if (r.history) parts.push(h("h2", {}, "Curves"), historyCurves(null, [r]));
  if (m.confusion_matrix && classes.length) {
    const perClass = classes.map((c) => ({ label: c, value: (m.per_class && m.per_class[c] && m.per_class[c].accuracy) || 0 }));
    parts.push(h("div", { class: "grid2" },
      h("div", {}, h("h2", {}, "Confusion matrix (test set)"), h("div", { class: "card" }, confusionTable(m.confusion_matrix, classes))),
      h("div", {}, h("h2", {}, "Per-class accuracy"), h("div", { class: "card", id: "per-class" }, barsList(perClass)))));
  }
  parts.push(h("h2", {}, "Export formats"));
  parts.push(r.export ? exportTable(r.export) : h("p", { class: "muted" }, "Not exported yet: ", h("code", {}, `litelab export ${r.id}`)));
  parts.push(h("h2", {}, "Deploy verdict"));
  parts.push(r.deploy.length ? h("div", { id: "deploy" }, r.deploy.map((d) => h("div", { class: "card" },
      h("p", { class: d.verdict.fits ? "fits" : "nofit" }, d.verdict.line),
      tierDetails(d.verdict),
      h("p", { class: "muted" }, `${num(d.model_bytes)} B model, ${num(d.arena_bytes)} B tensor arena, ${num(d.macs)} MACs`,
        d.top1_agreement === null || d.top1_agreement === undefined ? "" : `; TFLite Micro agrees with LiteRT on ${pct(d.top1_agreement)} of ${d.images_checked} test images`))))
    : h("p", { class: "muted" }, "Not deployed yet: ", h("code", {}, `litelab deploy ${r.id} --target esp-eye`)));
  if (r.images.length) {
    parts.push(h("h2", {}, "Pictures from the run"));
    parts.push(h("div", { class: "gallery" }, r.images.map((im) => h("figure", {},
      h("img", { src: runPath(r.id) + "/images/" + enc(im.name), alt: im.caption, loading: "lazy" }), h("figcaption", {}, im.caption)))));
  }
  view.replaceChildren(...parts);
}

// ---------------------------------------------------------------- compare
async function showCompare(ids) {
  const list = await api("/api/runs");
  const picker = h("div", { class: "card" }, h("p", {}, "Pick runs to compare:"),
    h("div", { class: "controls" }, list.runs.map((r) => h("label", {},
      h("input", { type: "checkbox", value: r.id, checked: ids.includes(r.id) }), " ", r.id))),
    h("button", { id: "compare-go", onclick: () => {
      const chosen = [...picker.querySelectorAll("input:checked")].map((i) => i.value);
      location.hash = "#/compare?" + chosen.map((id) => "id=" + enc(id)).join("&");
    } }, "Compare"));
  if (ids.length < 2) {
    view.replaceChildren(h("h1", {}, "Compare runs"), h("p", { class: "muted" }, "Choose two or more runs."), picker);
    return;
  }
  const runs = await Promise.all(ids.map((id) => api(runPath(id))));
  const rows = [["Model", (r) => r.model || "–"], ["Test accuracy", (r) => pct(r.test_accuracy)],
    ["Top-3 accuracy", (r) => pct(r.metrics.top3_accuracy)], ["Macro F1", (r) => (r.metrics.macro_f1 ?? null) === null ? "–" : r.metrics.macro_f1.toFixed(3)],
    ["Best val. accuracy", (r) => pct(r.metrics.best_val_accuracy)], ["Params", (r) => num(r.params)],
    ["int8 size", (r) => kb(r.int8_bytes)], ["Epochs", (r) => r.epochs ?? "–"],
    ["Train time", (r) => (r.metrics.train_seconds === undefined ? "–" : r.metrics.train_seconds.toFixed(1) + " s")],
    ["Data", (r) => r.data || "–"], ["Fits target", (r) => verdictCell(r.verdicts)]];
  const best = Math.max(...runs.map((r) => r.test_accuracy ?? -1));
  view.replaceChildren(h("h1", {}, `Compare ${runs.length} runs`),
    h("table", { id: "compare-table" },
      h("tr", {}, h("th", {}, ""), runs.map((r, i) => h("th", { style: `color:${COLORS[i % COLORS.length]}` }, h("a", { href: "#/run/" + enc(r.id) }, r.id)))),
      rows.map(([label, f]) => h("tr", {}, h("th", {}, label), runs.map((r) =>
        h("td", { class: label === "Test accuracy" && r.test_accuracy === best ? "fits" : "" }, f(r)))))),
    h("h2", {}, "Validation curves"), historyCurves(null, runs), h("h2", {}, "Change the selection"), picker);
}

// ---------------------------------------------------------------- classify
async function showClassify(params) {
  const [runs, zoo] = await Promise.all([api("/api/runs"), api("/api/zoo")]);
  const models = [...runs.runs.filter((r) => r.formats.length).map((r) => ({ id: r.id, label: `${r.id} (${pct(r.test_accuracy)})`, formats: r.formats })),
                  ...zoo.models.map((z) => ({ id: z.id, label: `${z.id}: ${z.model} (${pct(z.test_accuracy)})`, formats: z.formats }))];
  if (!models.length) {
    view.replaceChildren(h("h1", {}, "Classify"), h("p", {}, "No model to classify with: train one with ", h("code", {}, "litelab run"), "."));
    return;
  }
  const FORMAT_NAMES = { "keras": "Keras", "tflite-float32": "TFLite float32", "tflite-int8": "TFLite int8" };
  const modelSel = h("select", { id: "model-select" }, models.map((m) => h("option", { value: m.id }, m.label)));
  const formatSel = h("select", { id: "format-select" });
  const want = params.get("run");
  if (want && models.some((m) => m.id === want)) modelSel.value = want;
  function fillFormats() {
    const m = models.find((x) => x.id === modelSel.value);
    const keep = formatSel.value || params.get("format");
    formatSel.replaceChildren(...m.formats.map((f) => h("option", { value: f }, FORMAT_NAMES[f] || f)));
    if (keep && m.formats.includes(keep)) formatSel.value = keep;
  }
  modelSel.addEventListener("change", () => { fillFormats(); if (lastBlob) classify(lastBlob, lastName); });
  formatSel.addEventListener("change", () => { if (lastBlob) classify(lastBlob, lastName); });
  fillFormats();

  const result = h("div", { id: "result" });
  const photo = h("div", { class: "photo" });
  const fileInput = h("input", { type: "file", id: "file-input", accept: "image/jpeg,image/png,image/webp",
    onchange: () => { if (fileInput.files[0]) classify(fileInput.files[0], fileInput.files[0].name); } });
  const drop = h("div", { class: "drop", id: "drop-zone" }, "Drop a JPEG, PNG or WebP photo here, or ", fileInput);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    const f = e.dataTransfer.files[0]; if (f) classify(f, f.name);
  });

  // Webcam: a live preview and a button that classifies the current frame.
  const video = h("video", { autoplay: true, playsinline: true, muted: true, id: "webcam", hidden: true });
  const snap = h("button", { id: "webcam-snap", hidden: true, onclick: () => {
    const c = document.createElement("canvas");
    c.width = video.videoWidth; c.height = video.videoHeight;
    c.getContext("2d").drawImage(video, 0, 0);
    c.toBlob((b) => classify(b, "webcam.png"), "image/png");
  } }, "Classify this frame");
  const camBtn = h("button", { class: "secondary", id: "webcam-start", onclick: async () => {
    if (video.srcObject) {
      video.srcObject.getTracks().forEach((t) => t.stop()); video.srcObject = null;
      video.hidden = snap.hidden = true; camBtn.textContent = "Use the webcam"; return;
    }
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      video.hidden = snap.hidden = false; camBtn.textContent = "Stop the webcam";
    } catch (err) {
      result.replaceChildren(h("p", { class: "error" }, "No webcam: " + (err.message || err)));
    }
  } }, "Use the webcam");
  window.addEventListener("hashchange", () => { if (video.srcObject) video.srcObject.getTracks().forEach((t) => t.stop()); }, { once: true });

  let lastBlob = null, lastName = null;
  async function classify(blob, name) {
    lastBlob = blob; lastName = name;
    photo.replaceChildren(h("img", { src: URL.createObjectURL(blob), alt: "your photo" }), h("figcaption", {}, name));
    result.replaceChildren(h("p", { class: "muted", id: "working" }, "Classifying…"));
    const form = new FormData();
    form.append("file", blob, name);
    form.append("run", modelSel.value);
    form.append("format", formatSel.value);
    form.append("top", "5");
    try {
      const r = await api("/api/predict", { method: "POST", body: form });
      result.replaceChildren(h("div", { class: "result" },
        h("div", { class: "seen" }, h("img", { src: r.input_image, alt: "model input", id: "model-input" }),
          h("figcaption", {}, `what the model sees: ${r.model.input_size}×${r.model.input_size} (${r.model.input_dtype})`)),
        h("div", {},
          h("div", { class: "predicted", id: "predicted-class" }, r.top[0].class),
          h("p", { class: "muted" }, `${pct(r.top[0].probability)} · ${r.model.id} · ${r.model.format_label}`),
          barsList(r.top.map((t) => ({ label: t.class, value: t.probability })), { highlight: 1 }),
          h("p", { class: "muted", id: "latency" },
            `model ${r.latency_ms.toFixed(1)} ms, decoding ${r.decode_ms.toFixed(1)} ms; photo ${r.upload.width}×${r.upload.height} ${r.upload.format}`))));
    } catch (err) {
      result.replaceChildren(h("p", { class: "error", id: "predict-error" }, err.message));
    }
  }

  view.replaceChildren(h("h1", {}, "Classify a photo"),
    h("div", { class: "controls" }, h("label", {}, "Model ", modelSel), h("label", {}, "Format ", formatSel), camBtn),
    drop, h("div", { class: "controls" }, video, snap),
    h("div", { class: "result" }, photo, result));
}

route();
