// The dashboard's page: follows the stream of snapshots and renders them.
"use strict";

const shown = 500; // circuits rendered at most; the filter finds the others
const trouble = { "open": 4, "forced-open": 3, "half-open": 2, "disabled": 1, "closed": 0 };
let last = null;
const hist = new Map(); // circuit name → its history, the first event's plus each event's values

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const pct = (x) => (100 * x).toFixed(1) + " %";
const num = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

function duration(s) {
  if (s <= 0) return "";
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return Math.floor(s / 60) + " m " + Math.floor(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " m";
}

// spark draws values in [0, top] as a small line chart.
function spark(cls, values, top) {
  const w = 80, h = 18;
  if (!values || values.length < 2) return "";
  const step = w / (values.length - 1);
  const pts = values.map((v, i) => (i * step).toFixed(1) + "," + (h - (h * Math.min(v, top)) / top).toFixed(1)).join(" ");
  return `<svg class="spark ${cls}" width="${w}" height="${h}"><polyline points="${pts}"/></svg>`;
}

function circuitRow(c) {
  const buttons = (c.actions || []).map((a) => `<button data-action="${esc(a)}" data-name="${esc(c.name)}">${esc(a)}</button>`).join("");
  const probe = c.state === "open" ? (c.probeInSeconds > 0 ? duration(c.probeInSeconds) : "due") : "";
  return `<tr data-name="${esc(c.name)}" data-state="${esc(c.state)}">` +
    `<td title="${esc(c.name)}">${esc(c.name)}${c.breakers > 1 ? ` ×${c.breakers}` : ""}</td>` +
    `<td><span class="state ${esc(c.state)}">${esc(c.state)}</span></td>` +
    `<td>${pct(c.failureRate)}${spark("failure", (hist.get(c.name) || {}).failureRate, 1)}</td>` +
    `<td>${pct(c.slowCallRate)}${spark("slow", (hist.get(c.name) || {}).slowCallRate, 1)}</td>` +
    `<td>${num(c.callsPerSecond)}</td><td>${c.rejections}</td><td>${c.trips}</td>` +
    `<td>${duration(c.inStateSeconds)}</td><td>${probe}</td><td class="actions">${buttons}</td></tr>`;
}

// remember keeps each circuit's history: taken whole from an event that
// carries it (a connection's first), else extended by the event's values.
function remember(snap) {
  const names = new Set();
  for (const c of snap.circuits || []) {
    names.add(c.name);
    let h = hist.get(c.name);
    if (c.history) {
      h = { failureRate: c.history.failureRate.slice(), slowCallRate: c.history.slowCallRate.slice(), callsPerSecond: c.history.callsPerSecond.slice() };
    } else {
      h = h || { failureRate: [], slowCallRate: [], callsPerSecond: [] };
      for (const [k, v] of [["failureRate", c.failureRate], ["slowCallRate", c.slowCallRate], ["callsPerSecond", c.callsPerSecond]]) {
        h[k].push(v);
        if (h[k].length > snap.history) h[k].shift();
      }
    }
    hist.set(c.name, h);
  }
  for (const name of hist.keys()) if (!names.has(name)) hist.delete(name);
}

function render() {
  if (!last) return;
  const filter = $("filter").value.trim().toLowerCase();
  const circuits = (last.circuits || [])
    .filter((c) => !filter || c.name.toLowerCase().includes(filter))
    .sort((a, b) => (trouble[b.state] - trouble[a.state]) || (b.failureRate - a.failureRate) || a.name.localeCompare(b.name));
  $("circuits").tBodies[0].innerHTML = circuits.slice(0, shown).map(circuitRow).join("");
  $("more").textContent = circuits.length > shown ? `${circuits.length - shown} more: narrow the filter to see them` : "";
  const open = (last.circuits || []).filter((c) => c.state !== "closed").length;
  $("summary").textContent = `${(last.circuits || []).length} circuits, ${open} not closed`;
  $("error").textContent = last.error || "";
  $("retries").tBodies[0].innerHTML = (last.retries || []).map((r) =>
    `<tr><td>${esc(r.Name)}</td><td>${r.Calls}</td><td>${r.Retries}</td><td>${num(r.retriesPerSecond)}</td>` +
    `<td>${num(r.BudgetTokens)}</td><td>${r.BudgetDenied}</td><td>${r.Exhausted}</td></tr>`).join("");
  const hedges = (last.hedges || []).map((h) =>
    `<tr><td>hedge</td><td>${esc(h.Name)}</td><td>${h.Calls}</td><td>${h.BudgetDenied}</td><td></td><td></td><td></td>` +
    `<td>${h.Hedges} hedges, ${h.Won} won, ${h.Cancelled} cancelled</td></tr>`);
  const limiters = (last.limiters || []).map((l) =>
    `<tr><td>${esc(l.Kind)}</td><td>${esc(l.Name)}</td><td>${l.Admitted}</td><td>${l.Rejected}</td>` +
    `<td>${l.InFlight}</td><td>${l.Queued}</td><td>${l.Limit || ""}</td>` +
    `<td>${l.Kind === "ratelimit" ? num(l.Tokens) + " tokens" : l.Kind === "throttle" ? pct(l.Probability) + " refused" : ""}` +
    `${l.Mode ? " · " + (modes[l.Mode] || esc(l.Mode)) : ""}</td></tr>`);
  const admissions = (last.admissions || []).map((a) => {
    const sum = (o) => Object.values(o || {}).reduce((x, y) => x + y, 0);
    const shed = Object.values(a.Shed || {}).reduce((x, r) => x + sum(r), 0);
    const reasons = {};
    Object.values(a.Shed || {}).forEach((r) => Object.entries(r).forEach(([k, n]) => { reasons[k] = (reasons[k] || 0) + n; }));
    const why = Object.entries(reasons).map(([k, n]) => `${n} ${esc(k)}`).join(", ");
    return `<tr><td>admission</td><td>${esc(a.Name)}</td><td>${sum(a.Admitted)}</td><td>${shed}</td>` +
      `<td>${a.InFlight}</td><td>${a.Queued}</td><td>${a.Limit}</td>` +
      `<td>queue delay ${num(a.QueueDelay / 1e6)} ms${a.Standing ? " · standing" : ""}${why ? " · shed: " + why : ""}</td></tr>`;
  });
  $("limiters").tBodies[0].innerHTML = hedges.concat(limiters, admissions).join("");
  const configs = last.configurations || [];
  $("configuration").hidden = configs.length === 0;
  $("origins").innerHTML = configs.map((c) =>
    `${esc(c.Origin)}: ${c.Reloads} reloads, ${c.Refusals} refused` +
    `${c.LastRefusal ? " (last: " + esc(c.LastRefusal) + ")" : ""}`).join("<br>");
  $("configured").tBodies[0].innerHTML = configs.flatMap((c) => (c.Policies || []).map((p) =>
    `<tr><td>${esc(p.Name)}</td><td>${esc(p.Kind)}</td><td><code>${esc(p.Settings)}</code></td>` +
    `<td>${(p.Overrides || []).map(esc).join("<br>")}</td></tr>`)).join("");
}

// modes say how a policy shared with other processes decides now.
const modes = {
  shared: "shared (Redis)",
  local: "Redis unreachable: this process's share",
  closed: "Redis unreachable: turning calls away",
};

function connect() {
  const events = new EventSource("events");
  events.onopen = () => { $("status").textContent = "live"; $("status").dataset.connected = "true"; };
  events.onmessage = (e) => { last = JSON.parse(e.data); remember(last); render(); };
  events.onerror = () => {
    // EventSource reconnects by itself unless the server refused the
    // stream outright; then start over after a second.
    $("status").textContent = "reconnecting…";
    $("status").dataset.connected = "false";
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, 1000);
  };
}

$("filter").addEventListener("input", render);
$("circuits").addEventListener("click", async (e) => {
  const b = e.target.closest("button[data-action]");
  if (!b) return;
  const body = new URLSearchParams({ action: b.dataset.action, name: b.dataset.name });
  const resp = await fetch("actions", { method: "POST", body, headers: { "X-Breakwater-Action": "1" } });
  if (!resp.ok) alert(await resp.text());
});
connect();
