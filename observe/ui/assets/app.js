// The x0tta6bl4 dashboard: a live picture of the mesh from the watcher
// that serves it (a node's API, or `x0tta6bl4 observe --ui`). It reads the
// server-sent events of /v1/events: a full "snapshot", then "delta"s to
// merge and "events" to list (see the observe package's doc). Nothing is
// loaded from anywhere else. Every element that stands for a node
// carries data-peer="<peer ID>".
"use strict";

const state = {
  source: "", self: "", time: null,
  nodes: new Map(),      // peer ID → NodeState
  proposals: [], peers: [], healing: null, stats: {},
  events: [],
  selected: null,
  routes: null,          // the serving node's routing table, when it is selected
  pos: new Map(),        // peer ID → {x, y, vx, vy}
  lastData: 0,           // Date.now() of the last frame
  staleness: [],         // recent made → shown delays, ms
  connected: false,
};
window.x0 = state;

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElementNS(tag === "svg" || attrs.svg ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "svg") continue;
    if (k === "text") e.textContent = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};
const short = (p) => (p && p.length > 14 ? p.slice(0, 6) + "…" + p.slice(-6) : p || "?");
const ms = (ns) => (ns ? (ns / 1e6 < 1 ? (ns / 1e3).toFixed(0) + " µs" : (ns / 1e6).toFixed(ns / 1e6 < 10 ? 2 : 1) + " ms") : "–");
const bytes = (n) => { const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return n.toFixed(i ? 1 : 0) + " " + u[i]; };
const votes = (micro) => (micro / 1e6).toFixed(2);
const ago = (t) => { const s = (Date.now() - Date.parse(t)) / 1000; return s < 0 ? "0 s" : s < 90 ? s.toFixed(1) + " s" : (s / 60).toFixed(0) + " min"; };

// linkClass colours a link by its RTT and loss.
function linkClass(l) {
  if (l.loss_percent >= 5 || l.rtt_ns >= 50e6) return "bad";
  if (l.loss_percent > 0 || l.rtt_ns >= 5e6) return "warn";
  return "ok";
}

// ---- the stream ----

function connect() {
  const es = new EventSource("/v1/events");
  es.addEventListener("snapshot", (m) => { apply(JSON.parse(m.data)); });
  es.addEventListener("delta", (m) => { apply(JSON.parse(m.data)); });
  es.addEventListener("events", (m) => { addEvents(JSON.parse(m.data)); });
  es.onopen = () => { state.connected = true; status(); };
  es.onerror = () => { state.connected = false; status(); };
}

function apply(s) {
  const now = Date.now();
  state.lastData = now;
  state.source = s.source; state.self = s.self; state.time = s.time; state.stats = s.stats || {};
  if (s.full) state.nodes.clear();
  for (const n of s.nodes || []) {
    state.nodes.set(n.peer, n);
    if (n.state !== "down" && n.made) state.staleness.push(now - Date.parse(n.made));
  }
  if (state.staleness.length > 2000) state.staleness.splice(0, state.staleness.length - 2000);
  for (const p of s.gone || []) { state.nodes.delete(p); state.pos.delete(p); }
  if (s.full || s.proposals) state.proposals = s.proposals || [];
  if (s.full || s.peers) state.peers = s.peers || [];
  if (s.full || s.healing !== null) state.healing = s.healing;
  schedule();
}

function addEvents(evs) {
  for (const e of evs) state.events.unshift(e);
  state.events.length = Math.min(state.events.length, 100);
  schedule();
}

// ---- rendering, at most once a frame ----

let pending = false;
function schedule() {
  if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; render(); }); }
}

function render() {
  status();
  layout();
  drawGraph();
  drawNodes();
  drawDetail();
  drawProposals();
  drawHealing();
  drawPeers();
  drawEvents();
}

function status() {
  const st = $("#status");
  const live = state.connected && Date.now() - state.lastData < 3000;
  st.className = "status " + (live ? "live" : state.connected ? "stale" : "connecting");
  st.textContent = live ? "live" : state.connected ? "no data for " + ((Date.now() - state.lastData) / 1000).toFixed(0) + " s" : "reconnecting…";
  $("#source").textContent = state.source === "node" ? "node " + short(state.self) : "observer " + short(state.self);
  const s = state.stats;
  const sum = (m) => Object.values(m || {}).reduce((a, b) => a + b, 0);
  $("#counters").textContent = `${s.nodes_up || 0} up · ${s.nodes_down || 0} down · ${s.suspects || 0} suspect · ` +
    `${sum(s.messages)} messages · ${sum(s.duplicates)} duplicates · telemetry p50 ${(s.telemetry_p50_ms || 0).toFixed(1)} ms p99 ${(s.telemetry_p99_ms || 0).toFixed(1)} ms`;
}
setInterval(status, 1000);

// layout places the nodes in an abstract plane: a spring-electrical
// layout (every pair repels, links pull, a weak pull to the centre keeps
// lone nodes in) for up to a few hundred nodes, a circle beyond. draw
// fits the plane into the picture.
function layout() {
  const peers = [...state.nodes.keys()].sort();
  peers.forEach((p, i) => {
    if (!state.pos.has(p)) {
      const a = (2 * Math.PI * i) / Math.max(1, peers.length);
      state.pos.set(p, { x: Math.cos(a), y: Math.sin(a) });
    }
  });
  if (peers.length > 300 || peers.length < 2) return;
  const k = 1 / Math.sqrt(peers.length);
  const pts = peers.map((p) => state.pos.get(p));
  const index = new Map(peers.map((p, i) => [p, i]));
  const edges = new Map(); // each link once, whichever end reported it
  for (const n of state.nodes.values()) for (const l of n.links || []) {
    if (!index.has(l.to)) continue;
    const i = index.get(n.peer), j = index.get(l.to);
    edges.set(Math.min(i, j) + "," + Math.max(i, j), [i, j]);
  }
  const rounds = Math.max(10, Math.min(100, Math.floor(5000 / pts.length)));
  for (let iter = 0; iter < rounds; iter++) {
    const f = pts.map(() => ({ x: 0, y: 0 }));
    for (let i = 0; i < pts.length; i++) for (let j = i + 1; j < pts.length; j++) {
      const dx = pts[i].x - pts[j].x, dy = pts[i].y - pts[j].y, d = Math.max(Math.hypot(dx, dy), 1e-3);
      const r = (k * k) / d;
      f[i].x += (dx / d) * r; f[i].y += (dy / d) * r; f[j].x -= (dx / d) * r; f[j].y -= (dy / d) * r;
    }
    for (const [i, j] of edges.values()) {
      const dx = pts[i].x - pts[j].x, dy = pts[i].y - pts[j].y, d = Math.max(Math.hypot(dx, dy), 1e-3);
      const a = (d * d) / k;
      f[i].x -= (dx / d) * a; f[i].y -= (dy / d) * a; f[j].x += (dx / d) * a; f[j].y += (dy / d) * a;
    }
    pts.forEach((p, i) => {
      f[i].x -= p.x * k; f[i].y -= p.y * k;
      const m = Math.hypot(f[i].x, f[i].y) || 1, step = Math.min(m, 0.02);
      p.x += (f[i].x / m) * step; p.y += (f[i].y / m) * step;
    });
  }
}

// screen maps the layout's plane onto the picture, with room for labels.
function screen() {
  const svg = $("#graph");
  const W = svg.clientWidth || 800, H = svg.clientHeight || 460;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const p of state.pos.values()) { x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x); y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y); }
  const mx = 30, mr = 130, my = 24;
  const sx = (W - mx - mr) / Math.max(x1 - x0, 1e-6), sy = (H - 2 * my) / Math.max(y1 - y0, 1e-6);
  const s = Math.min(sx, sy), ox = mx + (W - mx - mr - s * (x1 - x0)) / 2, oy = my + (H - 2 * my - s * (y1 - y0)) / 2;
  return (p) => ({ x: ox + (p.x - x0) * s, y: oy + (p.y - y0) * s });
}

function nodeClasses(n) {
  const c = ["node", n.state];
  if (n.anomaly && n.anomaly.suspect) c.push("suspect");
  if (n.quarantined) c.push("quarantined");
  if (n.peer === state.self) c.push("self");
  if (n.peer === state.selected) c.push("selected");
  return c.join(" ");
}

function drawGraph() {
  const svg = $("#graph");
  const route = routeEdges();
  const at = screen();
  const links = el("g", { svg: 1 }), nodes = el("g", { svg: 1 });
  for (const n of state.nodes.values()) for (const l of n.links || []) {
    if (!state.pos.has(n.peer) || !state.pos.has(l.to) || (l.mutual && n.peer > l.to)) continue; // a mutual link once
    const a = at(state.pos.get(n.peer)), b = at(state.pos.get(l.to));
    const to = state.nodes.get(l.to);
    let cls = "link " + (n.state === "down" || (to && to.state === "down") ? "dead" : linkClass(l));
    if (route.has(n.peer + ">" + l.to) || route.has(l.to + ">" + n.peer)) cls += " route";
    links.append(el("line", { svg: 1, class: cls, x1: a.x, y1: a.y, x2: b.x, y2: b.y },
      el("title", { svg: 1, text: `${short(n.peer)} → ${short(l.to)}: RTT ${ms(l.rtt_ns)} (${l.rtt_by}), loss ${l.loss_percent}%` })));
  }
  for (const n of state.nodes.values()) {
    if (!state.pos.has(n.peer)) continue;
    const p = at(state.pos.get(n.peer));
    const g = el("g", { svg: 1, class: nodeClasses(n), "data-peer": n.peer, "data-state": n.state,
      transform: `translate(${p.x},${p.y})`, onclick: () => select(n.peer) });
    g.append(el("circle", { svg: 1, r: 9 }), el("text", { svg: 1, x: 12, y: 4, text: short(n.peer) + (n.state === "down" ? " (down)" : "") }),
      el("title", { svg: 1, text: `${n.peer}\n${n.state}` }));
    nodes.append(g);
  }
  svg.replaceChildren(links, nodes);
  $("#graph-empty").hidden = state.nodes.size > 0;
}

// routeEdges are the links on the selected node's routes: its own
// routing table when it is the serving node, else the shortest paths by
// RTT over the links the view holds.
function routeEdges() {
  const out = new Set();
  const src = state.selected;
  if (!src || !state.nodes.has(src)) return out;
  if (src === state.self && state.routes) {
    for (const r of state.routes.routes || []) {
      if (r.valid && r.next_hop_peer) out.add(src + ">" + r.next_hop_peer);
    }
    return out;
  }
  const dist = new Map([[src, 0]]), prev = new Map(), todo = new Set([src]);
  while (todo.size) {
    let u = null;
    for (const v of todo) if (u === null || dist.get(v) < dist.get(u)) u = v;
    todo.delete(u);
    const n = state.nodes.get(u);
    if (!n || n.state === "down") continue;
    for (const l of n.links || []) {
      if (!l.to || !state.nodes.has(l.to) || state.nodes.get(l.to).state === "down") continue;
      const d = dist.get(u) + Math.max(l.rtt_ns, 1);
      if (!dist.has(l.to) || d < dist.get(l.to)) { dist.set(l.to, d); prev.set(l.to, u); todo.add(l.to); }
    }
  }
  for (const [v, u] of prev) out.add(u + ">" + v);
  return out;
}

function select(peer) {
  state.selected = state.selected === peer ? null : peer;
  state.routes = null;
  if (state.selected && state.selected === state.self && state.source === "node") fetchRoutes();
  schedule();
}

async function fetchRoutes() {
  try {
    const r = await fetch("/v1/mesh/routes");
    if (r.ok) state.routes = await r.json();
  } catch (e) { state.routes = null; }
  schedule();
}
setInterval(() => { if (state.selected && state.selected === state.self && state.source === "node") fetchRoutes(); }, 3000);

function flags(n) {
  const out = [];
  if (n.anomaly && n.anomaly.suspect) out.push(el("span", { class: "flag suspect", text: "suspect" }));
  if (n.quarantined) out.push(el("span", { class: "flag quarantined", text: "quarantined" }));
  if (n.state === "down") out.push(el("span", { class: "flag down", text: "down" }));
  return out;
}

function sortedNodes() {
  const rank = (n) => (n.anomaly && n.anomaly.suspect ? 8 : 0) + (n.quarantined ? 4 : 0) + (n.state === "down" ? 2 : n.state === "late" ? 1 : 0);
  return [...state.nodes.values()].sort((a, b) => rank(b) - rank(a) || (a.peer < b.peer ? -1 : 1));
}

function drawNodes() {
  const rows = sortedNodes().slice(0, 500).map((n) => {
    const tr = el("tr", { class: "node-row" + (n.peer === state.selected ? " selected" : ""), "data-peer": n.peer, "data-state": n.state, onclick: () => select(n.peer) });
    const a = n.anomaly;
    tr.append(
      el("td", { text: short(n.peer), title: n.peer }),
      el("td", { class: "state-" + n.state, text: n.state }),
      el("td", { class: "num", text: n.cpu_percent.toFixed(1) }),
      el("td", { class: "num", text: bytes(n.memory_used_bytes) }),
      el("td", { class: "num", text: n.load1.toFixed(2) }),
      el("td", { class: "num", text: (n.links || []).length }),
      el("td", { class: "num", text: ms(n.latency_ns) }),
      el("td", { class: "num", text: n.packet_loss_percent.toFixed(2) }),
      el("td", { class: "num", text: a ? `${a.score.toFixed(2)} (${a.flagged}/${a.reporters})` : "–" }),
      el("td", {}, ...flags(n)),
      el("td", { class: "num", text: n.state === "down" && n.down_since ? "down " + ago(n.down_since) : ago(n.received) }));
    return tr;
  });
  $("#nodes tbody").replaceChildren(...rows);
  $("#nodes-count").textContent = state.nodes.size > 500 ? `500 of ${state.nodes.size}` : `${state.nodes.size}`;
}

function drawDetail() {
  const n = state.selected && state.nodes.get(state.selected);
  if (!n) { $("#detail").replaceChildren(el("p", { class: "empty", text: "Select a node in the graph or the table." })); return; }
  const row = (k, v) => [el("dt", { text: k }), el("dd", { text: v })];
  const dl = el("dl", {},
    ...row("peer", n.peer), ...row("mesh address", n.addr), ...row("state", n.state + (n.down_since ? " since " + new Date(n.down_since).toLocaleTimeString() : "")),
    ...row("telemetry", `${n.source}, seq ${n.seq}, every ${ms(n.interval_ns)}, ${n.messages} taken, ${n.missed} missed`),
    ...row("CPU", n.cpu_percent.toFixed(1) + " %"), ...row("memory", `${bytes(n.memory_used_bytes)} of ${bytes(n.memory_total_bytes)}`),
    ...row("load", n.load1.toFixed(2)), ...row("TCP latency", ms(n.latency_ns)), ...row("loss", n.packet_loss_percent.toFixed(2) + " %"),
    ...row("send / receive", `${bytes(n.send_bytes_per_s)}/s / ${bytes(n.receive_bytes_per_s)}/s`), ...row("drops", String(n.drops)),
    ...row("last message", ago(n.received) + " ago"));
  const kids = [dl];
  const a = n.anomaly;
  kids.push(el("h3", { text: "Anomaly" }));
  kids.push(a ? el("dl", {}, ...row("score", a.score.toFixed(4)), ...row("reporters", `${a.flagged} of ${a.reporters} flag it` + (a.suspect ? " — suspect" : "")),
    ...row("contributing", (a.contributing || []).join(", ") || "–")) : el("p", { class: "empty", text: "No neighbour scores it." }));
  if (n.quarantined) kids.push(el("p", { text: "Quarantined by proposal " + (n.quarantined_by || "").slice(0, 8) }));
  kids.push(el("h3", { text: state.selected === state.self && state.routes ? "Routes (this node's table)" : "Links (routes shown in the graph: shortest paths by RTT)" }));
  if (state.selected === state.self && state.routes) {
    const t = el("table", {}, el("tr", {}, el("th", { text: "to" }), el("th", { text: "next hop" }), el("th", { text: "hops" }), el("th", { text: "valid" })));
    for (const r of state.routes.routes || []) t.append(el("tr", { "data-route": r.dst }, el("td", { text: short(r.dst_peer || r.dst) }), el("td", { text: short(r.next_hop_peer || r.next_hop) }), el("td", { text: r.hops }), el("td", { text: r.valid })));
    kids.push(t);
  } else {
    const t = el("table", {}, el("tr", {}, el("th", { text: "to" }), el("th", { text: "RTT" }), el("th", { text: "loss %" })));
    for (const l of n.links || []) t.append(el("tr", {}, el("td", { text: l.to ? short(l.to) : l.to_addr.slice(0, 8) + " (not in view)" }), el("td", { class: linkClass(l), text: ms(l.rtt_ns) + " " + l.rtt_by }), el("td", { text: l.loss_percent })));
    kids.push(t);
  }
  $("#detail").replaceChildren(...kids);
}

function drawProposals() {
  const rows = state.proposals.map((p) => {
    const t = p.tally || {};
    const left = Date.parse(p.deadline) - Date.now();
    const deadline = left > 0 ? "in " + (left / 1000).toFixed(0) + " s" : new Date(p.deadline).toLocaleTimeString();
    const act = p.action ? p.action.kind + (p.action.peer ? " " + short(p.action.peer) : p.action.name ? " " + p.action.name : "") : "–";
    return el("tr", { class: "proposal " + p.state, "data-id": p.id },
      el("td", { text: p.id.slice(0, 8), title: p.id }), el("td", { text: p.title }),
      el("td", { text: p.state + (t.basis === "announced" ? " (votes as announced, no genesis)" : t.final ? "" : t.outcome ? " (" + t.outcome.toLowerCase() + " so far)" : "") }),
      el("td", { text: deadline }), el("td", { class: "num", text: votes(t.yes || 0) }), el("td", { class: "num", text: votes(t.no || 0) }),
      el("td", { class: "num", text: votes(t.abstain || 0) }), el("td", { text: t.basis === "announced" ? "–" : t.quorum_met ? "met" : "not met" }), el("td", { text: act }));
  });
  $("#proposals tbody").replaceChildren(...rows);
  $("#proposals-empty").hidden = rows.length > 0;
}

function drawHealing() {
  const h = state.healing;
  if (!h) {
    $("#healing").replaceChildren(el("p", { class: "empty", text: state.source === "node"
      ? "The healing loop has not answered yet: no plans to show."
      : "An observer sees no healing: plans stay on the node that makes them." }));
    return;
  }
  const t = el("table", {}, el("tr", {}, ...["time", "cause", "subject", "strategy", "state"].map((k) => el("th", { text: k }))));
  for (const p of h.plans || []) t.append(el("tr", { class: "plan" }, el("td", { text: new Date(p.time).toLocaleTimeString() }), el("td", { text: p.cause }),
    el("td", { text: short(p.subject) }), el("td", { text: p.strategy }), el("td", { text: p.state + (p.would_execute ? " (observe mode)" : "") })));
  $("#healing").replaceChildren(el("p", { text: "mode " + h.mode }), h.plans && h.plans.length ? t : el("p", { class: "empty", text: "No plan so far." }));
}

function drawPeers() {
  const rows = state.peers.map((p) => el("tr", { "data-gossip-peer": p.peer }, el("td", { text: short(p.peer), title: p.peer }),
    el("td", { class: "num " + (p.score < -100 ? "bad" : ""), text: p.score.toFixed(2) }),
    el("td", { text: Object.entries(p.topics || {}).filter(([, t]) => t.time_in_mesh_ns > 0).map(([k]) => k.split("/")[1]).join(", ") || "–" })));
  $("#peers tbody").replaceChildren(...rows);
}

function drawEvents() {
  const items = state.events.slice(0, 50).map((e) => {
    let what = e.type;
    if (e.governance) what += ` ${e.governance.kind} ${e.governance.title || ""}${e.governance.choice ? " " + e.governance.choice + " " + e.governance.tokens : ""}`;
    if (e.suspect) what += e.suspect.suspect ? ` (${e.suspect.reporters} reporters)` : " cleared";
    if (e.score) what += ` ${e.score.previous.toFixed(1)} → ${e.score.score.toFixed(1)}`;
    if (e.anomaly) what += ` ${e.anomaly.flagged}/${e.anomaly.scores} flagged`;
    return el("li", {}, new Date(e.time).toLocaleTimeString() + " ", el("span", { text: what }), " " + short(e.from));
  });
  $("#events").replaceChildren(...items);
}

setInterval(schedule, 1000); // ages and countdowns move on
connect();
