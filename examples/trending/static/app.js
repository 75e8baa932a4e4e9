// The live page: one event stream (/stream) gives a snapshot, then one update per logical
// time of the pipeline; the map, the lists and the slider are redrawn from that state.
"use strict";
const REGIONS = {AF: [20, 5], AS: [95, 40], EU: [15, 50], NA: [-100, 42], OC: [138, -25],
                 SA: [-60, -15]};
const state = {tables: {}, revisions: [], stats: {}, minute: null};
window.rendered = [];  // (newest event time shown, when it was drawn)
const svg = "http://www.w3.org/2000/svg";
const fmt = (x, d = 1) => (x === null || x === undefined) ? "–" : Number(x).toFixed(d);
const xy = (lon, lat) => [lon + 180, 90 - lat];

function colour(s) {  // sentiment in [-1, 1] -> red .. grey .. green
  const t = Math.max(-1, Math.min(1, s * 2));
  const [a, b] = t < 0 ? [[200, 200, 200], [214, 69, 65]] : [[200, 200, 200], [46, 160, 67]];
  const k = Math.abs(t);
  return `rgb(${a.map((v, i) => Math.round(v + (b[i] - v) * k)).join(",")})`;
}

function el(name, attrs, parent) {
  const node = document.createElementNS(svg, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  parent.appendChild(node);
  return node;
}

function rows(name) { return Object.values(state.tables[name] || {}); }

function minutes() {
  return [...new Set(rows("buckets").map((b) => b.minute))].sort((a, b) => a - b);
}

function latestPredictions() {  // from each topic's newest complete minute
  const open = Math.max(...rows("predictions").map((p) => p.minute));
  const latest = {};
  for (const p of rows("predictions")) {
    if (p.minute < open && (!latest[p.topic] || p.minute > latest[p.topic].minute)) {
      latest[p.topic] = p;
    }
  }
  return latest;
}

function drawMap(minute, predicted) {
  const group = document.getElementById("bubbles");
  group.replaceChildren();
  const byRegion = {};
  for (const b of rows("buckets")) {
    if (b.minute === minute) (byRegion[b.region] ||= []).push(b);
  }
  for (const [region, list] of Object.entries(byRegion)) {
    if (!REGIONS[region]) continue;
    list.sort((a, b) => b.engagement - a.engagement);
    const [cx, cy] = xy(...REGIONS[region]);
    list.slice(0, 5).forEach((b, i) => {
      const angle = i * 2.4, distance = i === 0 ? 0 : 7 + 2 * i;
      const x = cx + distance * Math.cos(angle), y = cy + distance * Math.sin(angle);
      const size = (predicted[b.topic] || {}).predicted ?? b.engagement;
      const r = Math.max(1.5, Math.min(9, Math.sqrt(size) * 0.6));
      const circle = el("circle", {cx: x, cy: y, r, fill: colour(b.sentiment),
                                   "data-topic": b.topic, "data-region": region}, group);
      el("title", {}, circle).textContent =
        `${b.topic} in ${region}: ${b.engagement} posts, sentiment ${fmt(b.sentiment, 2)}`;
      el("text", {x, y: y + r + 2.6}, group).textContent = b.topic;
    });
  }
  const places = document.getElementById("places");
  places.replaceChildren();
  for (const p of rows("places")) {
    const [x, y] = xy(p.lon, p.lat);
    el("path", {d: `M${x - 1},${y - 1}L${x + 1},${y + 1}M${x - 1},${y + 1}L${x + 1},${y - 1}`,
                "data-place": p.place}, places);
  }
}

function drawLists(minute, predicted) {
  const topics = document.getElementById("topics");
  topics.replaceChildren(...rows("buckets").filter((b) => b.minute === minute)
    .sort((a, b) => b.engagement - a.engagement).map((b) => tr(
      [b.topic, b.region, b.engagement, fmt(b.sentiment, 2)])));
  const list = Object.values(predicted).sort((a, b) => b.predicted - a.predicted);
  document.getElementById("predictions").replaceChildren(...list.map((p) => tr(
    [p.topic, p.engagement, fmt(p.predicted), `${fmt(p.a, 2)}·x+${fmt(p.b, 1)}`])));
  const cut = Date.now() / 1000 - 60;
  const recent = state.revisions.filter((r) => r.at >= cut).slice(-60).reverse();
  document.getElementById("revcount").textContent = `(${recent.length})`;
  document.getElementById("revisions").replaceChildren(...recent.map((r) => {
    const li = document.createElement("li");
    const change = typeof r.old === "number"
      ? `${fmt(r.old)} → ${fmt(r.new)}` : `${r.old} → ${r.new}`;
    const when = r.minute ? ` @ ${new Date(r.minute * 1000).toISOString().slice(11, 16)}` : "";
    li.className = typeof r.old === "number" ? (r.new >= r.old ? "up" : "down") : "down";
    li.textContent = `${r.kind} ${r.what}${when}: ${change} (${r.why})`;
    return li;
  }));
}

function tr(cells) {
  const row = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c;
    row.appendChild(td);
  }
  return row;
}

function render() {
  const all = minutes();
  const slider = document.getElementById("slider");
  slider.max = Math.max(0, all.length - 1);
  if (document.getElementById("live").checked || state.minute === null) {
    // the newest complete minute, once there is one
    slider.value = Math.max(0, all.length - 2);
  }
  state.minute = all[Number(slider.value)] ?? null;
  const label = state.minute === null ? "–" : new Date(state.minute * 1000).toISOString().slice(11, 16);
  document.getElementById("minute").textContent = label;
  document.getElementById("topics-minute").textContent = label;
  const predicted = latestPredictions();
  drawMap(state.minute, predicted);
  drawLists(state.minute, predicted);
  const s = state.stats;
  if (s.newest) window.rendered.push([s.newest, Date.now() / 1000]);  // for the benchmark
  if (window.rendered.length > 20000) window.rendered.splice(0, 10000);
  document.getElementById("stats").textContent =
    `${s.records} records · ${s.errors} bad · ${s.unplaced} unplaced · ` +
    `${s.bad_places} places withdrawn · ${s.unreliable_authors} unreliable authors · ` +
    `${s.revisions} revisions · time ${s.time}`;
}

let pending = false;
function schedule() {  // at most one redraw per animation frame
  if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; render(); }); }
}

function connect() {
  const source = new EventSource("/stream");
  source.addEventListener("snapshot", (e) => {
    const data = JSON.parse(e.data);
    state.tables = data.tables; state.revisions = data.revisions; state.stats = data.stats;
    schedule();
  });
  source.addEventListener("update", (e) => {
    const data = JSON.parse(e.data);
    for (const [name, change] of Object.entries(data.changes)) {
      const table = (state.tables[name] ||= {});
      for (const id of change.delete) delete table[id];
      Object.assign(table, change.upsert);
    }
    state.revisions.push(...data.revisions);
    const cut = Date.now() / 1000 - 60;
    state.revisions = state.revisions.filter((r) => r.at >= cut);
    state.stats = data.stats;
    schedule();
  });
}

fetch("/static/world.svg").then((r) => r.text()).then((text) => {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const path = doc.getElementById("land");
  document.getElementById("land").appendChild(document.importNode(path, true));
});
document.getElementById("slider").addEventListener("input", () => {
  document.getElementById("live").checked = false; render();
});
document.getElementById("live").addEventListener("change", render);
connect();
