// The lanemesh dashboard. The admin API's token comes in the URL's
// fragment (#token=...), which the browser never sends to a server; the
// page keeps it in memory only and presents it as a bearer token on every
// data request, including the live stream (read with fetch, because
// EventSource cannot send headers).
"use strict";

const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
history.replaceState(null, "", location.pathname + location.search); // keep it off the address bar
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

// el builds an element; strings become text nodes, never markup.
function el(tag, attrs, ...kids) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "onclick") e.addEventListener("click", v);
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) if (k !== undefined && k !== null && k !== false) e.append(k);
  return e;
}

function api(path, opts = {}) {
  return fetch(path, { ...opts, headers: { Authorization: "Bearer " + token }, cache: "no-store" });
}

function problem(msg) {
  $("problem").hidden = !msg;
  $("problem").textContent = msg || "";
}

function live(state, text) {
  $("live").className = "pill " + state;
  $("live").textContent = text;
}

// stream reads the server's NDJSON stream of states until it ends, then
// reconnects with back-off.
async function stream() {
  if (!token) {
    live("err", "no token");
    problem("This page needs the admin API's token: open it with `lanemesh dashboard`, which prints a URL that carries it.");
    return;
  }
  let delay = 500;
  for (;;) {
    try {
      const resp = await api("/v1/dashboard/stream");
      if (resp.status === 401 || resp.status === 403) {
        const body = await resp.json().catch(() => ({}));
        live("err", "refused");
        problem("The server refused the token (" + (body.error || resp.status) + "). Open the page again with `lanemesh dashboard`.");
        return;
      }
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      problem("");
      live("live", "live");
      delay = 500;
      const reader = resp.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) render(JSON.parse(line));
        }
      }
      throw new Error("the stream ended");
    } catch (e) {
      live("wait", "reconnecting");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}

let lastState = null;

function render(st) {
  lastState = st;
  const t = new Date(st.time);
  $("summary").textContent = `config gen ${st.generation} · ${st.proxies} proxies connected · ${st.scraped} scraped · ${t.toLocaleTimeString()}`;
  $("window").textContent = `(rates over the last ${st.windowSec}s)`;
  renderMatrix(st.matrix);
  renderGraphs(st);
  renderEvents($("events"), st.events, (e) => [el("b", {}, e.kind), " ", e.lane ? `[${e.lane}] ` : "", e.message], e => e.kind, "No events yet.");
  renderEvents($("nacks"), st.nacks, (n) => [el("b", {}, n.type), " ", `${n.proxy} rejected ${n.version}: ${n.message}`], () => "nack", "No proxy rejected a configuration.");
  renderLaneButtons(st.matrix.lanes);
  document.body.dataset.ready = "true";
}

function renderMatrix(m) {
  const table = $("matrix");
  const head = el("tr", {}, el("th", {}, "service"),
    m.lanes.map((l) => el("th", { class: "lane", "data-lane": l.name, title: "explain this lane's entry request", onclick: () => explainLane(l.name) },
      el("span", { class: "lname" }, l.name),
      l.mode && el("span", { class: "tag " + l.mode }, l.mode),
      l.baseline && el("span", { class: "tag" }, "baseline"),
      l.entry && el("span", { class: "entry" }, entryText(l.entry)))));
  const rows = m.services.map((s) => el("tr", {}, el("th", { class: "svc", title: s.host }, s.short),
    s.cells.map((c, i) => cell(s, m.lanes[i], c))));
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, rows));
}

function entryText(e) {
  const hs = Object.entries(e.headers || {}).map(([k, v]) => `${k}: ${v}`);
  return [e.path, ...hs].join(" · ");
}

function cell(s, lane, c) {
  const attrs = { class: "cell " + c.state, "data-service": s.short, "data-lane": lane.name, "data-state": c.state,
    onclick: () => explainLane(lane.name) };
  if (!c.present) return el("td", attrs, el("div", { class: "meta" }, "not in this lane"), el("div", { class: "meta" }, "→ baseline"));
  const meta = [];
  if (lane.baseline && !c.fallback) meta.push("baseline");
  if (c.fallback) meta.push("fallback → " + c.fallback);
  if (c.mode) meta.push(c.mode);
  const labels = Object.entries(c.labels || {}).map(([k, v]) => `${k}=${v}`).join(",");
  return el("td", { ...attrs, title: labels },
    el("span", { class: "ver" }, lane.name), el("span", { class: "pods" }, `${c.ready}/${c.pods} ready`),
    el("div", { class: "meta" }, meta.join(" · ") || "no fallback"));
}

function fmt(n, digits = 1) {
  if (n >= 100) return n.toFixed(0);
  return n.toFixed(digits);
}

function renderGraphs(st) {
  const byLane = new Map(st.matrix.lanes.map((l) => [l.name, []]));
  for (const e of st.edges) {
    if (!byLane.has(e.lane)) byLane.set(e.lane, []);
    byLane.get(e.lane).push(e);
  }
  const cards = [];
  for (const [lane, edges] of byLane) {
    cards.push(el("div", { class: "graph", "data-lane": lane },
      el("h3", {}, lane ? "lane " + lane : "requests without a lane"),
      edges.length ? el("div", { class: "body" }, graph(edges), edgeTable(edges)) : el("div", { class: "none" }, "no requests in the last " + st.windowSec + "s")));
  }
  $("graphs").replaceChildren(...cards);
}

// graph lays the lane's call graph out in columns: each node one column
// right of its furthest caller.
function graph(edges) {
  const key = (name, ver) => name + (ver ? " " + ver : "");
  const nodes = new Map();
  const add = (name, ver, gw) => {
    const k = key(name, ver);
    if (!nodes.has(k)) nodes.set(k, { k, gw, layer: 0, row: 0 });
    return nodes.get(k);
  };
  const links = edges.map((e) => ({ e, a: add(e.from, e.fromVersion, !e.fromVersion), b: add(e.to, e.toVersion, false) }));
  for (let i = 0; i < nodes.size; i++) {
    for (const l of links) if (l.b !== l.a && l.b.layer < l.a.layer + 1) l.b.layer = Math.min(l.a.layer + 1, 8);
  }
  const layers = [];
  for (const n of nodes.values()) (layers[n.layer] ||= []).push(n);
  layers.forEach((ns) => ns.sort((x, y) => x.k.localeCompare(y.k)).forEach((n, i) => (n.row = i)));
  const W = 116, H = 32, GX = 132, GY = 40, PAD = 6;
  const rows = Math.max(...layers.map((l) => (l ? l.length : 0)));
  const width = layers.length * W + (layers.length - 1) * GX + 2 * PAD;
  const height = rows * H + (rows - 1) * GY + 2 * PAD + 14;
  const pos = (n) => ({ x: PAD + n.layer * (W + GX), y: PAD + 14 + n.row * (H + GY) });
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, role: "img", width, height });
  for (const l of links) {
    const a = pos(l.a), b = pos(l.b);
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
    const cls = "edge" + (l.e.fallbackRps > 0 ? " fb" : "") + (l.e.errorRate > 0.01 ? " err" : "");
    const label = `${fmt(l.e.rps)}/s · p99 ${fmt(l.e.p99)}ms`;
    const sub = l.e.fallbackRps > 0 ? `fallback ${fmt(l.e.fallbackRps)}/s` : l.e.errorRate > 0 ? `${fmt(l.e.errorRate * 100)}% errors` : "";
    svg.append(el("svg:g", { class: cls },
      el("svg:path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 4},${y2}` }),
      el("svg:path", { d: `M${x2 - 8},${y2 - 4} L${x2},${y2} L${x2 - 8},${y2 + 4}` }),
      // Labels sit just before the arrow: callees differ, so labels of
      // edges that fan out of one caller never overlap.
      el("svg:text", { x: x2 - 10, y: y2 - 6, "text-anchor": "end" }, label),
      sub && el("svg:text", { x: x2 - 10, y: y2 + 13, "text-anchor": "end" }, sub)));
  }
  for (const n of nodes.values()) {
    const p = pos(n);
    svg.append(el("svg:g", { class: "node" + (n.gw ? " gw" : "") },
      el("svg:rect", { x: p.x, y: p.y, width: W, height: H, rx: 6 }),
      el("svg:text", { x: p.x + W / 2, y: p.y + H / 2 + 4, "text-anchor": "middle" }, n.k)));
  }
  return svg;
}

function edgeTable(edges) {
  return el("table", { class: "edges" },
    el("tr", {}, ["edge", "req/s", "errors", "p99 ms", "fallback/s"].map((h) => el("th", {}, h))),
    edges.map((e) => el("tr", { class: e.fallbackRps > 0 ? "fb" : "", "data-from": e.from, "data-to": e.to, "data-to-version": e.toVersion || "" },
      el("td", {}, `${e.from}${e.fromVersion ? " " + e.fromVersion : ""} → ${e.to} ${e.toVersion || ""}`),
      el("td", {}, fmt(e.rps)), el("td", {}, fmt(e.errorRate * 100) + "%"), el("td", {}, fmt(e.p99)),
      el("td", { class: "fbrate" }, fmt(e.fallbackRps)))));
}

function renderEvents(list, items, line, kind, empty) {
  if (!items.length) return list.replaceChildren(el("li", { class: "empty" }, empty));
  list.replaceChildren(...items.slice(0, 30).map((e) =>
    el("li", { class: kind(e) }, el("time", {}, new Date(e.time).toLocaleTimeString()), line(e))));
}

let laneNames = "";
function renderLaneButtons(lanes) {
  const names = lanes.filter((l) => l.entry).map((l) => l.name).join(",");
  if (names === laneNames) return;
  laneNames = names;
  $("lanebuttons").replaceChildren(...lanes.filter((l) => l.entry).map((l) =>
    el("button", { type: "button", onclick: () => explainLane(l.name) }, "lane " + l.name)));
}

async function showExplain(query) {
  $("why").textContent = "…";
  try {
    const resp = await api("/v1/dashboard/explain?" + query);
    const body = await resp.json();
    if (!resp.ok) {
      $("why").textContent = body.error || "HTTP " + resp.status;
      return;
    }
    const req = [`${body.from} ← GET ${body.url}`, ...(body.headers || []).map((h) => "  " + h)].join("\n");
    $("why").textContent = req + "\n\n" + (body.text || "") + (body.error ? "\n" + body.error : "") + details(body.hops);
  } catch (e) {
    $("why").textContent = "explain failed: " + e.message;
  }
}

// details adds what the chain's one-line summary leaves out: fallbacks
// and endpoint health.
function details(hops) {
  const out = [];
  for (const h of hops || []) {
    const r = h.result;
    if (!r) continue;
    const bits = [];
    if (r.fallback) bits.push(`fallback ${r.fallback.host.split(".")[0]}/${r.fallback.subset}${r.fellBack ? " (serving now: the destination has no healthy endpoint)" : ""}`);
    if (r.endpoints) bits.push(`${r.endpoints.filter((e) => e.healthy).length}/${r.endpoints.length} endpoints healthy`);
    if (r.reason) bits.push(r.reason);
    if (bits.length) out.push(`• ${h.from}: ${bits.join("; ")}`);
  }
  return out.length ? "\n\n" + out.join("\n") : "";
}

function explainLane(name) {
  showExplain(new URLSearchParams({ lane: name }).toString());
}

$("explain").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const q = new URLSearchParams({ from: f.get("from"), url: f.get("url") });
  for (const h of String(f.get("headers") || "").split(";")) if (h.trim()) q.append("header", h.trim());
  showExplain(q.toString());
});

stream();
