// twoface web UI: plain JavaScript over the JSON API of twoface.ui.server.
// Every text that comes from a file, the model store or a request is shown with textContent
// (or as an attribute set by property), never parsed as HTML: the page sends a CSP that
// forbids inline script as well, so a licence text or a file name cannot run as code.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { sources: [], target: null, faces: [], picks: new Map(), job: null, timer: null };

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error((data && data.error) || `${response.status} ${response.statusText}`);
  return data;
}
const post = (path, body) =>
  api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

function say(text, isError = false) {
  const el = $("#status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

async function upload(file) {
  return api(`/api/upload?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file });
}

// -- tabs ---------------------------------------------------------------------------------------
document.querySelectorAll("nav .tab").forEach((tab) =>
  tab.addEventListener("click", () => {
    document.querySelectorAll("nav .tab").forEach((t) => t.classList.toggle("active", t === tab));
    document.querySelectorAll(".panel").forEach((p) => p.classList.toggle("active", p.id === `tab-${tab.dataset.tab}`));
    if (tab.dataset.tab === "models") loadModels();
  }),
);

// -- sources and target ----------------------------------------------------------------------------
$("#source-input").addEventListener("change", async (event) => {
  state.sources = [];
  $("#sources").replaceChildren();
  for (const file of event.target.files) {
    try {
      const stored = await upload(file);
      if (stored.kind !== "image") throw new Error(`${stored.name}: a source must be a photo`);
      state.sources.push(stored);
      const img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = `source ${state.sources.length - 1}`;
      img.title = `source ${state.sources.length - 1}: ${stored.name}`;
      $("#sources").append(img);
    } catch (e) {
      say(e.message, true);
    }
  }
  renderFaces();
});

// A new target replaces everything that belonged to the old one, before it is even checked:
// its picture, facts, faces, picks (and the "faces I pick" mode, which has none left) and the
// last result. A refused upload leaves an empty target, never the old one under the error.
function clearTarget() {
  state.target = null;
  state.faces = [];
  state.picks.clear();
  const pick = document.querySelector('input[name="mode"][value="pick"]');
  if (pick.checked) document.querySelector('input[name="mode"][value="largest"]').checked = true;
  document.body.classList.remove("video");
  $("#target-preview").replaceChildren();
  $("#target-info").textContent = "";
  $("#result").replaceChildren();
  $("#bar").style.width = "0%";
  renderFaces();
}

$("#target-input").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  clearTarget();
  say("uploading the target ...");
  try {
    const stored = await upload(file);
    state.target = stored;
    document.body.classList.toggle("video", stored.kind === "video");
    const holder = $("#target-preview");
    holder.replaceChildren();
    const el = document.createElement(stored.kind === "video" ? "video" : "img");
    el.src = URL.createObjectURL(file);
    if (stored.kind === "video") el.controls = true;
    holder.append(el);
    const facts = stored.kind === "video"
      ? `video ${stored.width}x${stored.height}, ${stored.fps ? stored.fps.toFixed(2) : "?"} fps, ${stored.seconds ? stored.seconds.toFixed(1) : "?"} s${stored.audio ? ", with audio" : ""}`
      : `image ${stored.width}x${stored.height}`;
    $("#target-info").textContent = `${stored.name}: ${facts}`;
    say("finding faces ...");
    await findFaces();
    say(`${state.faces.length} face(s) found in the target`);
  } catch (e) {
    say(e.message, true);
  }
});

async function findFaces() {
  const time = Number($("#preview-time").value) || 0;
  const found = await post("/api/faces", { target: state.target.id, time });
  state.faces = found.faces;
  renderFaces();
}

function renderFaces() {
  const gallery = $("#faces");
  gallery.replaceChildren();
  $("#faces-hint").style.display = state.faces.length ? "none" : "block";
  for (const face of state.faces) {
    const card = document.createElement("div");
    card.className = "face" + (state.picks.has(face.index) ? " picked" : "");
    card.dataset.index = face.index;
    const thumb = document.createElement("img");
    thumb.src = face.thumb;
    thumb.alt = `face ${face.index}`;
    const caption = document.createElement("div");
    caption.textContent = `face ${face.index}`;
    card.append(thumb, caption);
    const choose = document.createElement("select");
    choose.title = "which source goes here";
    state.sources.forEach((s, i) => choose.append(new Option(`source ${i}`, i)));
    choose.value = String(state.picks.get(face.index) ?? 0);
    choose.addEventListener("click", (e) => e.stopPropagation());
    choose.addEventListener("change", () => {
      state.picks.set(face.index, Number(choose.value));
      renderFaces();
    });
    if (state.sources.length > 1) card.append(choose);
    card.addEventListener("click", () => {
      if (state.picks.has(face.index)) state.picks.delete(face.index);
      else state.picks.set(face.index, 0);
      document.querySelector('input[name="mode"][value="pick"]').checked = true;
      renderFaces();
    });
    gallery.append(card);
  }
}

// -- options ---------------------------------------------------------------------------------------
async function loadOptions() {
  const o = await api("/api/options");
  for (const name of o.swappers) $("#swapper").append(new Option(name, name));
  for (const name of o.enhancers) $("#enhancer").append(new Option(name, name));
  for (const name of o.presets) $("#preset").append(new Option(name, name));
  $("#preset").value = "medium";
  for (const name of o.masks) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "mask";
    box.value = name;
    label.append(box, ` ${name}`);
    $("#masks-row").append(label);
  }
}
$("#blend").addEventListener("input", () => ($("#blend-value").textContent = $("#blend").value));

function request() {
  const mode = document.querySelector('input[name="mode"]:checked').value;
  return {
    sources: state.sources.map((s) => s.id),
    target: state.target && state.target.id,
    mode,
    picks: [...state.picks].map(([face, source]) => ({ face, source })),
    swapper: $("#swapper").value,
    enhancer: $("#enhancer").value,
    enhancer_blend: Number($("#blend").value),
    masks: [...document.querySelectorAll('input[name="mask"]:checked')].map((m) => m.value),
    crf: Number($("#crf").value),
    preset: $("#preset").value,
    time: Number($("#preview-time").value) || 0,
  };
}

// -- running ----------------------------------------------------------------------------------------
async function start(path) {
  if (!state.sources.length) return say("add a source photo first", true);
  if (!state.target) return say("add a target image or video first", true);
  $("#result").replaceChildren();
  try {
    const job = await post(path, request());
    follow(job);
  } catch (e) {
    say(e.message, true);
  }
}
$("#swap-btn").addEventListener("click", () => start("/api/swap"));
$("#preview-btn").addEventListener("click", () => start("/api/preview"));
$("#cancel-btn").addEventListener("click", async () => {
  if (!state.job) return;
  // Said at once: the work itself stops at its next step, which can be seconds away.
  $("#cancel-btn").disabled = true;
  say("cancelling ...");
  try {
    show(await post(`/api/jobs/${state.job}/cancel`, {}));
  } catch (e) {
    say(e.message, true);
  }
});

function follow(job) {
  state.job = job.id;
  $("#cancel-btn").disabled = false;
  $("#swap-btn").disabled = true;
  clearInterval(state.timer);
  state.timer = setInterval(async () => {
    try {
      show(await api(`/api/jobs/${state.job}`));
    } catch (e) {
      stop();
      say(e.message, true);
    }
  }, 400);
  show(job);
}

function stop() {
  clearInterval(state.timer);
  $("#cancel-btn").disabled = true;
  $("#swap-btn").disabled = false;
}

function show(job) {
  const fraction = job.fraction ?? (job.state === "done" ? 1 : 0);
  $("#bar").style.width = `${Math.round(fraction * 100)}%`;
  if (job.state === "cancelling") {
    $("#cancel-btn").disabled = true;
    say("cancelling: stopping after the current step ...");
    return;
  }
  if (job.state === "running" || job.state === "queued") {
    const eta = job.eta_s != null ? `, about ${Math.ceil(job.eta_s)} s left` : "";
    say(`${job.state}: ${job.stage || "starting"} ${job.total ? `${job.done}/${job.total}` : ""}${eta}`);
    return;
  }
  stop();
  if (job.state === "failed") return say(job.error, true);
  if (job.state === "cancelled") return say("cancelled; nothing was written");
  const r = job.result;
  const s = r.summary;
  const url = `/api/results/${r.file}`;
  const media = document.createElement(r.kind === "video" ? "video" : "img");
  media.src = url;
  media.id = "result-media";
  if (r.kind === "video") media.controls = true;
  const link = document.createElement("a");
  link.href = `${url}?download=1`;
  link.id = "download";
  link.textContent = `Download ${r.name}`;
  link.setAttribute("download", r.name);
  const note = document.createElement("div");
  note.className = "label-note";
  note.id = "label-note";
  note.textContent = s.label
    ? `Labelled, machine-readably, as synthetic media: "${s.label}".`
    : "This file carries no AI-generated label.";
  const facts = r.kind === "video"
    ? `${s.frames} frames, faces swapped in ${s.frames_swapped}`
    : `swapped ${s.faces_swapped} of ${s.faces_found} face(s) with ${s.engine}`;
  say(`done: ${facts}`);
  $("#result").append(media, document.createElement("br"), link, note);
}

// -- models ------------------------------------------------------------------------------------------
async function loadModels() {
  const { models } = await api("/api/models");
  const body = $("#models tbody");
  body.replaceChildren();
  for (const m of models) {
    const row = document.createElement("tr");
    const stateText = m.installed ? "installed" : m.runs ? "not downloaded" : "catalogued (does not run yet)";
    const cell = (text) => {
      const td = document.createElement("td");
      td.textContent = text == null ? "" : String(text);
      row.append(td);
      return td;
    };
    cell(m.name);
    cell(m.task);
    cell(m.what);
    const licence = cell(m.licence);
    if (m.non_commercial) {
      const nc = document.createElement("b");
      nc.textContent = "NC";
      licence.append(" ", nc);
    }
    cell(stateText).className = "state";
    cell("");
    if (!m.installed && m.downloadable) {
      const button = document.createElement("button");
      button.textContent = "Download";
      button.addEventListener("click", () => download(m.name, row));
      row.lastElementChild.append(button);
    }
    body.append(row);
  }
}

async function download(name, row) {
  const cell = row.querySelector(".state");
  try {
    let job = await post(`/api/models/${encodeURIComponent(name)}/download`, {});
    while (job.state === "queued" || job.state === "running") {
      const pct = job.fraction != null ? `${Math.round(job.fraction * 100)}%` : "";
      const bar = document.createElement("div");
      bar.className = "progress";
      const fill = document.createElement("div");
      fill.className = "fill";
      fill.style.width = pct || "0"; // CSSOM: allowed by the CSP, unlike a style attribute
      bar.append(fill);
      cell.replaceChildren(`downloading ${pct}`, bar);
      await new Promise((r) => setTimeout(r, 500));
      job = await api(`/api/jobs/${job.id}`);
    }
    cell.textContent = job.state === "done" ? "installed" : job.error || job.state;
  } catch (e) {
    cell.textContent = e.message;
  }
}

// -- webcam --------------------------------------------------------------------------------------------
const live = { stream: null, session: null, running: false, shown: 0, started: 0, latency: [] };

$("#live-start").addEventListener("click", async () => {
  if (!state.sources.length) return ($("#live-stats").textContent = "add a source photo in the Swap tab first");
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    $("#live-video").srcObject = live.stream;
    const { session } = await post("/api/live", { sources: state.sources.map((s) => s.id), swapper: $("#swapper").value });
    live.session = session;
    live.running = true;
    live.shown = 0;
    live.latency = [];
    live.started = performance.now();
    $("#live-start").disabled = true;
    $("#live-stop").disabled = false;
    requestAnimationFrame(liveLoop);
  } catch (e) {
    $("#live-stats").textContent = `camera: ${e.message}`;
  }
});

$("#live-stop").addEventListener("click", () => {
  live.running = false;
  if (live.stream) live.stream.getTracks().forEach((t) => t.stop());
  $("#live-start").disabled = false;
  $("#live-stop").disabled = true;
});

// One frame in flight at a time: the camera's frames in between are dropped, never queued.
async function liveLoop() {
  if (!live.running) return;
  const video = $("#live-video");
  if (video.videoWidth) {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    const blob = await new Promise((r) => canvas.toBlob(r, "image/jpeg", 0.85));
    const sent = performance.now();
    try {
      const response = await fetch(`/api/live/${live.session}/frame`, { method: "POST", body: blob });
      if (!response.ok) throw new Error((await response.json()).error);
      const out = await response.blob();
      $("#live-out").src = URL.createObjectURL(out);
      live.shown += 1;
      live.latency.push(performance.now() - sent);
      const fps = live.shown / ((performance.now() - live.started) / 1000);
      const recent = live.latency.slice(-30).sort((a, b) => a - b);
      $("#live-stats").textContent = `${fps.toFixed(1)} fps, latency ${Math.round(recent[recent.length >> 1])} ms`;
    } catch (e) {
      $("#live-stats").textContent = e.message;
    }
  }
  requestAnimationFrame(liveLoop);
}

loadOptions().catch((e) => say(e.message, true));
