// Marionette control panel: watches and steers the avatar through the agents' control websocket.
// Plain JS, no build step. The token comes in the URL fragment (#token=...) printed by
// `marionette run`; it is moved to sessionStorage and removed from the address bar at once, and it
// is only ever sent to the control websocket (docs: control_panel/README.md).
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
};

const SEND_INTERVAL_MS = 40;   // slider drags: at most 25 messages/s per channel (server allows 100/s)
const HISTORY = 120;           // graph samples kept
const BLEND_GROUPS = [
  ["Eyes", /^eye/], ["Jaw", /^jaw/], ["Mouth", /^mouth/], ["Brows", /^brow/],
  ["Cheeks, nose, tongue", /^(cheek|nose|tongue)/],
];

const S = {
  cfg: null, token: null, ws: null, nextId: 1, pending: new Map(), retry: 500, opened: false,
  rows: new Map(),        // channel -> {row, input, out, ch}
  held: new Set(),        // channels overridden (by anyone) according to the server
  dragging: new Set(),    // channels the user is moving right now
  lastSent: new Map(), timers: new Map(),
  hist: { fps: [], p50: [], p95: [] }, target: null,
  components: new Map(),
  emotion: null,
};

// ----------------------------------------------------------------- token (fragment -> session)
function takeToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  const fromHash = params.get("token");
  if (fromHash) {
    sessionStorage.setItem("marionette-token", fromHash);
    history.replaceState(null, "", location.pathname + location.search);  // out of the address bar and history
  }
  return fromHash || sessionStorage.getItem("marionette-token");
}

// ----------------------------------------------------------------- banners and status
function banner(key, level, text) {
  let b = document.querySelector(`.banner[data-key="${CSS.escape(key)}"]`);
  if (!text) { if (b) b.remove(); return; }
  if (!b) {
    b = el("div", { class: `banner ${level}`, "data-key": key }, el("span"),
      el("button", { type: "button", text: "dismiss", onclick: () => b.remove() }));
    $("#banners").append(b);
  }
  b.className = `banner ${level}`;
  b.querySelector("span").textContent = text;
}

function setConn(state, text) {
  const c = $("#conn");
  c.dataset.state = state;
  c.className = "pill " + (state === "connected" ? "on" : "off");
  c.textContent = text || state;
}

function log(level, text) {
  const li = el("li", { class: `log-${level}`, text: `${new Date().toLocaleTimeString()} ${text}` });
  const ol = $("#log");
  ol.prepend(li);
  while (ol.children.length > 60) ol.lastChild.remove();
}

function showStatus(ev) {
  // One row per component (sink:mjpeg, source:microphone, obs, ...): its latest word.
  S.components.set(ev.component, ev);
  const tbody = $("#components tbody");
  tbody.replaceChildren(...[...S.components.values()].map((e) => el("tr", {},
    el("td", { text: e.component }),
    el("td", { class: `level-${e.level}`, text: `${e.level}${e.retrying ? " (retrying)" : ""}` }),
    el("td", { text: e.message }))));
  log(ev.level || "error", statusText(ev));
  const key = "status:" + ev.component;
  if (ev.level === "error") banner(key, "error", statusText(ev));
  else if (ev.level === "recovered" || ev.level === "info") banner(key, "info", null);
}
const statusText = (ev) => `${ev.component || "engine"}: ${ev.message}${ev.retrying ? " (retrying)" : ""}`;

// ----------------------------------------------------------------- the websocket
function send(type, fields = {}) {
  if (!S.ws || S.ws.readyState !== WebSocket.OPEN) {
    banner("offline", "warning", "not connected to the engine: the command was not sent");
    return Promise.reject(new Error("offline"));
  }
  const id = S.nextId++;
  S.ws.send(JSON.stringify({ id, type, ...fields }));
  return new Promise((resolve, reject) => S.pending.set(id, { resolve, reject, type }));
}

function connect() {
  if (!S.token) {
    $("#token-form").hidden = false;
    setConn("no-token", "no token");
    banner("token", "warning", "No control token: open the panel with the URL that `marionette run` prints " +
      "(it carries #token=...), or paste the token below.");
    return;
  }
  banner("token", "", null);
  const url = new URL(S.cfg.control_url, location.href);
  url.searchParams.set("token", S.token);
  setConn("connecting", "connecting…");
  const ws = new WebSocket(url.href);
  S.ws = ws;
  S.opened = false;
  ws.onopen = () => { S.opened = true; S.retry = 500; setConn("connected"); banner("conn", "", null); banner("offline", "", null); };
  ws.onmessage = (m) => { try { handle(JSON.parse(m.data)); } catch (e) { console.error(e); } };
  ws.onclose = (ev) => {
    for (const p of S.pending.values()) p.reject(new Error("connection closed"));
    S.pending.clear();
    setConn("disconnected");
    // Browsers hide the HTTP status of a refused handshake: a close before open is most often a bad token.
    const why = S.opened ? `connection to the engine lost (${ev.code}${ev.reason ? ": " + ev.reason : ""})`
      : "the engine refused the connection or is not running: check that `marionette run` is up and that the token is current";
    banner("conn", "error", `${why}; retrying in ${(S.retry / 1000).toFixed(1)} s`);
    setTimeout(connect, S.retry);
    S.retry = Math.min(S.retry * 2, 8000);
  };
}

function handle(msg) {
  if (msg.type === "reply") {
    const p = S.pending.get(msg.id);
    S.pending.delete(msg.id);
    if (msg.clamped) log("warning", "clamped: " + msg.clamped.map((c) => `${c.channel} ${c.requested} -> ${c.applied}`).join(", "));
    if (p) p.resolve(msg.result);
    return;
  }
  if (msg.type === "error") {
    const p = S.pending.get(msg.id);
    S.pending.delete(msg.id);
    banner("error:" + (msg.code || "?"), "error", `${p ? p.type + ": " : ""}${msg.message} [${msg.code}]`);
    log("error", `${msg.code}: ${msg.message}`);
    if (p) p.reject(new Error(msg.message));
    return;
  }
  if (msg.type !== "event") return;
  const d = msg.data || {};
  switch (msg.event) {
    case "welcome":
      send("subscribe", { events: ["speech", "errors", "status", "stats", "motion"], motion_rate: 15, stats_rate: 2 }).catch(() => {});
      send("get_state").then(applyState).catch(() => {});
      break;
    case "speech_start":
      $("#speaking").className = "pill speaking"; $("#speaking").textContent = "speaking";
      $("#caption").textContent = (d.text || "").replace(/\[[A-Za-z_ ]{1,24}\]\s*/g, "");
      break;
    case "speech_end":
      $("#speaking").className = "pill idle"; $("#speaking").textContent = "silent";
      setTimeout(() => { if ($("#speaking").textContent === "silent") $("#caption").textContent = ""; }, 1200);
      break;
    case "status": showStatus(d); break;
    case "error": banner("status:" + (d.component || "engine"), "error", statusText(d)); break;
    case "stats": onStats(d); break;
    case "motion": onMotion(d.values || {}); break;
  }
}

// ----------------------------------------------------------------- state, motion, stats
function applyState(st) {
  const c = st.controls || {};
  S.held = new Set(Object.keys(c.overrides || {}));
  for (const [name, r] of S.rows) {
    r.row.classList.toggle("held", S.held.has(name));
    if (S.held.has(name) && !S.dragging.has(name)) setSlider(r, c.overrides[name]);
  }
  if (c.emotion) markEmotion(c.emotion.label);
  if (st.engine) showEngine(st.engine);
}

function onMotion(values) {
  for (const [name, r] of S.rows) {
    if (S.dragging.has(name)) continue;
    setSlider(r, name in values ? values[name] : r.ch.neutral);
  }
}

function setSlider(r, v) {
  r.input.value = v;
  r.out.textContent = fmt(v, r.ch);
}
const fmt = (v, ch) => (ch.pose && ch.name !== "scale" && ch.name !== "tx" && ch.name !== "ty") ? Number(v).toFixed(1) : Number(v).toFixed(2);

// The engine's status dict is the engine's to shape; find the numbers we graph wherever they are.
function findNum(obj, keys, depth = 0) {
  if (!obj || typeof obj !== "object" || depth > 4) return null;
  for (const k of keys) if (typeof obj[k] === "number" && isFinite(obj[k])) return obj[k];
  for (const v of Object.values(obj)) {
    const r = findNum(v, keys, depth + 1);
    if (r !== null) return r;
  }
  return null;
}

function onStats(d) {
  const e = d.engine || {};
  const fps = findNum(e, ["fps", "fps_actual", "measured_fps"]);
  const p50 = findNum(e, ["latency_p50_ms", "p50_ms", "latency_ms"]);
  const p95 = findNum(e, ["latency_p95_ms", "p95_ms"]);
  S.target = findNum(e, ["target_fps"]) ?? S.target;
  push(S.hist.fps, fps); push(S.hist.p50, p50); push(S.hist.p95, p95);
  $("#fps-now").textContent = fps === null ? "– fps" : `${fps.toFixed(1)} fps`;
  $("#lat-now").textContent = p50 === null ? "latency –" : `latency ${p50.toFixed(0)}/${(p95 ?? p50).toFixed(0)} ms`;
  drawGraph($("#fps-graph"), [[S.hist.fps, "#38c172"]], S.target);
  drawGraph($("#lat-graph"), [[S.hist.p50, "#4f9cff"], [S.hist.p95, "#f0b429"]], null);
  showEngine(e);
}

function push(arr, v) { arr.push(v); while (arr.length > HISTORY) arr.shift(); }

function drawGraph(canvas, series, ref) {
  const g = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  g.clearRect(0, 0, w, h);
  const vals = series.flatMap(([a]) => a).filter((v) => v !== null).concat(ref === null ? [] : [ref]);
  if (!vals.length) { g.fillStyle = "#9aa1ad"; g.fillText("no data yet", 8, h / 2); return; }
  const hi = Math.max(...vals) * 1.15 || 1;
  const y = (v) => h - 4 - (v / hi) * (h - 14);
  if (ref !== null) {
    g.strokeStyle = "#555"; g.setLineDash([4, 3]); g.beginPath(); g.moveTo(0, y(ref)); g.lineTo(w, y(ref)); g.stroke(); g.setLineDash([]);
  }
  for (const [arr, colour] of series) {
    g.strokeStyle = colour; g.lineWidth = 1.5; g.beginPath();
    let started = false;
    arr.forEach((v, i) => {
      if (v === null) { started = false; return; }
      const x = (i / (HISTORY - 1)) * w;
      if (started) g.lineTo(x, y(v)); else { g.moveTo(x, y(v)); started = true; }
    });
    g.stroke();
  }
  g.fillStyle = "#9aa1ad"; g.fillText(hi.toFixed(0), 4, 10);
}

function showEngine(e) {
  const dl = $("#engine-status");
  const rows = [];
  for (const [k, v] of Object.entries(e)) {
    let text;
    if (v === null || typeof v !== "object") text = typeof v === "number" ? String(Math.round(v * 100) / 100) : String(v);
    else if (Array.isArray(v)) text = v.map((x) => (typeof x === "object" ? (x.name || JSON.stringify(x)) : String(x))).join(", ");
    else text = Object.entries(v).map(([a, b]) => `${a}: ${typeof b === "object" ? JSON.stringify(b) : b}`).join("; ");
    rows.push(el("dt", { text: k }), el("dd", { text }));
  }
  dl.replaceChildren(...rows);
}

// ----------------------------------------------------------------- controls
function buildChannels(channels) {
  const box = $("#channels");
  const groups = [["Head pose", (c) => c.pose], ...BLEND_GROUPS.map(([n, re]) => [n, (c) => !c.pose && re.test(c.name)])];
  for (const [title, pick] of groups) {
    const det = el("details", title === "Head pose" || title === "Jaw" ? { open: "" } : {}, el("summary", { text: title }));
    for (const ch of channels.filter(pick)) det.append(channelRow(ch));
    box.append(det);
  }
}

function channelRow(ch) {
  const step = ch.pose ? (ch.max - ch.min) / 200 : 0.01;
  const input = el("input", { type: "range", min: ch.min, max: ch.max, step, value: ch.neutral, id: "ch-" + ch.name,
    "aria-label": ch.name, "data-channel": ch.name });
  const out = el("output", { text: fmt(ch.neutral, ch) });
  const release = el("button", { type: "button", text: "✕", title: `give ${ch.name} back to the generator` });
  const row = el("div", { class: "chan" + (ch.supported ? "" : " unsupported"), "data-channel": ch.name },
    el("label", { for: "ch-" + ch.name, text: ch.name, title: ch.supported ? ch.name : ch.name + " (not drawn by this renderer)" }),
    input, out, release);
  const r = { row, input, out, ch };
  S.rows.set(ch.name, r);
  input.addEventListener("pointerdown", () => S.dragging.add(ch.name));
  input.addEventListener("input", () => { S.dragging.add(ch.name); out.textContent = fmt(input.value, ch); scheduleSend(ch); });
  input.addEventListener("change", () => { sendChannel(ch); S.dragging.delete(ch.name); });
  release.addEventListener("click", () => {
    S.dragging.delete(ch.name);
    send("clear", { channels: [ch.name], transition: 0.3 }).then(() => { S.held.delete(ch.name); row.classList.remove("held"); }).catch(() => {});
  });
  return row;
}

function scheduleSend(ch) {
  // Throttle per channel, and always send the last value of a drag.
  const last = S.lastSent.get(ch.name) || 0, now = performance.now();
  if (now - last >= SEND_INTERVAL_MS) { sendChannel(ch); return; }
  if (!S.timers.has(ch.name)) S.timers.set(ch.name, setTimeout(() => { S.timers.delete(ch.name); sendChannel(ch); }, SEND_INTERVAL_MS - (now - last)));
}

function sendChannel(ch) {
  S.lastSent.set(ch.name, performance.now());
  const v = Number(S.rows.get(ch.name).input.value);
  const p = ch.pose ? send("set_pose", { [ch.name]: v, mode: "set", transition: 0.08 })
    : send("set_expression", { values: { [ch.name]: v }, mode: "set", transition: 0.08 });
  S.held.add(ch.name);
  S.rows.get(ch.name).row.classList.add("held");
  p.catch(() => {});
}

function markEmotion(label) {
  S.emotion = label;
  for (const b of document.querySelectorAll("#emotions button")) b.classList.toggle("active", b.dataset.label === label);
}

function buildButtons(cfg) {
  const ei = $("#emotion-intensity"), gi = $("#gesture-intensity");
  ei.addEventListener("input", () => { $("#emotion-intensity-out").textContent = Number(ei.value).toFixed(2); });
  gi.addEventListener("input", () => { $("#gesture-intensity-out").textContent = Number(gi.value).toFixed(2); });
  for (const label of cfg.emotions) {
    $("#emotions").append(el("button", { type: "button", text: label, "data-label": label, onclick: () =>
      send("set_emotion", { label, intensity: Number(ei.value), transition: 0.5 }).then(() => markEmotion(label)).catch(() => {}) }));
  }
  for (const g of cfg.gestures) {
    $("#gestures").append(el("button", { type: "button", text: g.name.replace("_", " "), title: g.description, "data-gesture": g.name,
      onclick: () => {
        const msg = { name: g.name, intensity: Number(gi.value) };
        if (g.target) Object.assign(msg, { x: 0.6, y: 0.2 });
        send("gesture", msg).catch(() => {});
      } }));
  }
  // Background modes (core/render/background.py): the plate is built by the engine off its frame
  // loop and shows a few frames later; 'colour' sends the picked colour as color:#RRGGBB.
  const sendBackground = () => {
    const mode = $("#background").value;
    const spec = mode === "color" ? `color:${$("#background-color").value}` : mode;
    send("set_background", { mode: spec }).then((r) => log("info", `background: ${r.background}`)).catch(() => {});
  };
  $("#background").addEventListener("change", sendBackground);
  $("#background-color").addEventListener("change", () => { $("#background").value = "color"; sendBackground(); });
  // With a camera attached (run --source camera) the face can be driven by the camera alone, with the
  // audio's lips, or with these controls on top; without one the engine answers not_available.
  $("#drive").addEventListener("change", (e) => send("set_drive", { mode: e.target.value })
    .then((r) => log("info", `drive: ${r.drive}`)).catch(() => {}));
  $("#reset").addEventListener("click", () => send("reset", { transition: 0.3 }).then(() => {
    S.held.clear(); for (const r of S.rows.values()) r.row.classList.remove("held"); markEmotion("neutral");
  }).catch(() => {}));
  const speak = () => {
    const text = $("#speak-text").value.trim();
    if (!text) return;
    send("speak", { text, interrupt: $("#speak-interrupt").checked }).then(() => { $("#speak-text").value = ""; }).catch(() => {});
  };
  $("#speak").addEventListener("click", speak);
  $("#speak-text").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) speak(); });
  $("#interrupt").addEventListener("click", () => send("interrupt").catch(() => {}));
  const pad = $("#gaze-pad");
  drawPad(pad, null);
  pad.addEventListener("click", (e) => {
    const r = pad.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * 2 - 1, y = 1 - ((e.clientY - r.top) / r.height) * 2;
    send("look_at", { x: round2(x), y: round2(y), transition: 0.3 }).then(() => drawPad(pad, [x, y])).catch(() => {});
  });
  $("#gaze-release").addEventListener("click", () => send("clear", { gaze: true, transition: 0.3 }).then(() => drawPad(pad, null)).catch(() => {}));
  $("#token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    S.token = $("#token-input").value.trim();
    if (!S.token) return;
    sessionStorage.setItem("marionette-token", S.token);
    $("#token-form").hidden = true;
    connect();
  });
}
const round2 = (v) => Math.round(Math.max(-1, Math.min(1, v)) * 100) / 100;

function drawPad(pad, p) {
  const g = pad.getContext("2d"), w = pad.width, h = pad.height;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#3b4456"; g.beginPath(); g.moveTo(w / 2, 0); g.lineTo(w / 2, h); g.moveTo(0, h / 2); g.lineTo(w, h / 2); g.stroke();
  if (p) { g.fillStyle = "#4f9cff"; g.beginPath(); g.arc(((p[0] + 1) / 2) * w, ((1 - p[1]) / 2) * h, 5, 0, 7); g.fill(); }
}

// ----------------------------------------------------------------- preview
function startPreview(cfg) {
  const img = $("#preview");
  if (cfg.webrtc_url) {
    // WebRTC (plugin/sinks/webrtc.py): picture and sound with the least latency. The offer carries
    // the control token this page holds; a <video> takes the <img>'s place.
    const video = document.createElement("video");
    video.id = "preview-video"; video.className = img.className; video.autoplay = true; video.playsInline = true;
    video.muted = true;  // browsers play sound only after a click; the page unmutes on the first one
    img.replaceWith(video);
    document.addEventListener("click", () => { video.muted = false; }, { once: true });
    const connect = async () => {
      const pc = new RTCPeerConnection({ iceServers: [] });
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
      const stream = new MediaStream();
      pc.ontrack = (e) => { stream.addTrack(e.track); video.srcObject = stream; };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "failed" || pc.connectionState === "closed") {
          banner("preview", "warning", "WebRTC preview lost; reconnecting");
          pc.close(); setTimeout(start, 2000);
        } else if (pc.connectionState === "connected") banner("preview", "", null);
      };
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((done) => {  // non-trickle: the offer goes with its candidates
        if (pc.iceGatheringState === "complete") return done();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
        setTimeout(done, 2000);
      });
      const u = new URL(cfg.webrtc_url);
      const r = await fetch(u.href, { method: "POST", headers: { "Content-Type": "application/json", "Authorization": `Bearer ${S.token}` },
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }) });
      if (!r.ok) throw new Error(`offer refused: ${r.status}`);
      await pc.setRemoteDescription(await r.json());
    };
    const start = () => connect().catch((e) => {
      banner("preview", "warning", `no WebRTC preview from ${cfg.webrtc_url}: ${e}; retrying`);
      setTimeout(start, 3000);
    });
    start();
  } else if (cfg.preview_url) {
    // JPEG frames over a websocket: newest frame wins, old blob URLs are freed.
    let url = null, retry = 500;
    const open = () => {
      const u = new URL(cfg.preview_url);
      if (S.token) u.searchParams.set("token", S.token);  // private like the stream; panel.json carries none
      const ws = new WebSocket(u.href);
      ws.binaryType = "blob";
      ws.onmessage = (m) => { const next = URL.createObjectURL(m.data); img.src = next; if (url) URL.revokeObjectURL(url); url = next; retry = 500; };
      ws.onclose = () => { setTimeout(open, retry); retry = Math.min(retry * 2, 8000); };
    };
    open();
  } else if (cfg.mjpeg_url) {
    // The stream is private: it takes the control token this page holds (panel.json carries none).
    const streamUrl = (retry) => {
      const u = new URL(cfg.mjpeg_url);
      if (S.token) u.searchParams.set("token", S.token);
      if (retry) u.searchParams.set("r", String(Date.now()));
      return u.href;
    };
    img.src = streamUrl(false);
    img.onerror = () => {
      banner("preview", "warning", `no video from ${cfg.mjpeg_url}; retrying`);
      setTimeout(() => { img.src = streamUrl(true); }, 2000);
    };
    img.onload = () => banner("preview", "", null);
  } else {
    banner("preview", "info", "no preview configured (enable the MJPEG sink or the websocket preview)");
  }
}

// ----------------------------------------------------------------- start
async function main() {
  S.token = takeToken();
  try {
    S.cfg = await (await fetch("panel.json", { cache: "no-store" })).json();
  } catch (e) {
    banner("cfg", "error", "cannot load panel.json from the panel server: " + e.message);
    return;
  }
  buildButtons(S.cfg);
  buildChannels(S.cfg.channels);
  startPreview(S.cfg);
  drawGraph($("#fps-graph"), [[S.hist.fps, "#38c172"]], null);
  drawGraph($("#lat-graph"), [[S.hist.p50, "#4f9cff"]], null);
  connect();
  window.marionette = { send, state: S };  // for tests and the curious: the same door, nothing more
}

main();
