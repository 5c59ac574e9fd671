// The status page served at `/` by the ops listener: plain HTML, CSS and JavaScript in one
// document, no build step and no front-end packages. It polls /status.json once a second and
// renders the node (docs/design.md, "The ops listener", lists what it shows). Elements that
// tests read carry ids (ready, objects, uptime, ops, volumes, logs, updated; on a cluster node
// cluster, cl-epoch, cl-up, cl-ae, cl-moving (a transition in flight: data-moving, data-synced;
// its text and bar in cl-moving-text and cl-moving-bar) and the rows of cluster-nodes, each with
// id node-ID, data-state and data-answer: yes, no or unknown; every row's cells n-partitions
// ("before -> after" while its share moves) and n-sync (its synced/led moving partitions); the
// cells of an answering node's numbers have classes n-disk-used, n-disk-free, n-get-rate,
// n-put-rate, n-get-p99, n-put-p99, a silent one's n-no-answer).
#include "ops/ops_handler.h"

namespace cairn::ops {

namespace {

constexpr char kPage[] = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cairn node</title>
<style>
  :root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#f7f8fa; --ok:#12805c;
          --bad:#c4320a; --warn:#b54708; --bar:#4e7fd6; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
         color:var(--fg); background:var(--bg); }
  header { display:flex; align-items:center; gap:16px; padding:14px 24px; background:#fff;
           border-bottom:1px solid var(--line); flex-wrap:wrap; }
  header h1 { font-size:18px; margin:0; }
  .muted { color:var(--muted); }
  .badge { padding:2px 10px; border-radius:12px; font-weight:600; color:#fff; }
  .badge.ok { background:var(--ok); } .badge.bad { background:var(--bad); }
  .badge.unknown { background:var(--muted); }
  main { padding:18px 24px; display:grid; gap:18px; }
  .cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(230px,1fr)); gap:14px; }
  .card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
  .card h2, section h2 { font-size:13px; text-transform:uppercase; letter-spacing:.04em;
                         color:var(--muted); margin:0 0 8px; }
  .big { font-size:22px; font-weight:600; }
  .kv { display:grid; grid-template-columns:auto 1fr; gap:2px 12px; }
  .kv span:nth-child(odd) { color:var(--muted); }
  .kv span:nth-child(even) { text-align:right; font-variant-numeric:tabular-nums; }
  .bar { height:8px; background:var(--line); border-radius:4px; overflow:hidden; margin:6px 0; }
  .bar > div { height:100%; background:var(--bar); }
  section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
  table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
  th, td { padding:5px 8px; border-bottom:1px solid var(--line); text-align:right; }
  th:first-child, td:first-child { text-align:left; }
  th { color:var(--muted); font-weight:600; font-size:12px; }
  #logs { list-style:none; margin:0; padding:0; font:12px/1.5 ui-monospace, monospace;
          max-height:320px; overflow:auto; }
  #logs li { padding:3px 0; border-bottom:1px solid var(--line); white-space:pre-wrap;
             word-break:break-all; }
  .lvl-error, .lvl-critical { color:var(--bad); font-weight:600; }
  .lvl-warning { color:var(--warn); font-weight:600; }
  #banner { display:none; background:#fef3f2; color:var(--bad); padding:8px 24px;
            border-bottom:1px solid #fecdca; }
</style>
</head>
<body>
<header>
  <h1>Cairn node <span id="addr" class="muted"></span></h1>
  <span id="ready" class="badge unknown">loading</span>
  <span id="reason" class="muted"></span>
  <span class="muted">up <b id="uptime">-</b></span>
  <span class="muted">version <span id="version">-</span>, pid <span id="pid">-</span></span>
  <span class="muted" style="margin-left:auto">updated <span id="updated">never</span></span>
</header>
<div id="banner"></div>
<main>
  <div class="cards">
    <div class="card"><h2>Disk</h2>
      <div class="big" id="disk-used">-</div><div class="bar"><div id="disk-bar" style="width:0"></div></div>
      <div class="kv"><span>free</span><span id="disk-free">-</span><span>total</span><span id="disk-total">-</span>
      <span>data</span><span id="data-dir">-</span></div></div>
    <div class="card"><h2>Store</h2>
      <div class="big"><span id="objects">-</span> <span class="muted" style="font-size:14px">objects</span></div>
      <div class="kv"><span>logical</span><span id="logical">-</span><span>live</span><span id="live">-</span>
      <span>dead</span><span id="dead">-</span><span>reclaimable</span><span id="reclaimable">-</span>
      <span>reclaimed</span><span id="reclaimed">-</span><span>index memory</span><span id="index-mem">-</span>
      <span>volumes</span><span id="nvolumes">-</span></div></div>
    <div class="card"><h2>Connections</h2>
      <div class="big" id="conns">-</div><div class="bar"><div id="conn-bar" style="width:0"></div></div>
      <div class="kv"><span>in flight</span><span id="inflight">-</span><span>refused</span><span id="refused">-</span>
      <span>accepted</span><span id="accepted">-</span></div></div>
    <div class="card"><h2>Traffic</h2>
      <div class="big"><span id="req-rate">-</span> <span class="muted" style="font-size:14px">req/s</span></div>
      <div class="kv"><span>in</span><span id="in-rate">-</span><span>out</span><span id="out-rate">-</span>
      <span>requests</span><span id="req-total">-</span><span>window</span><span id="window">-</span></div></div>
  </div>
  <section id="cluster" style="display:none"><h2>Cluster</h2>
    <div class="kv" style="max-width:640px;margin-bottom:8px">
      <span>map epoch</span><span id="cl-epoch">-</span><span>this node</span><span id="cl-self">-</span>
      <span>etcd</span><span id="cl-etcd">-</span><span>write policy</span><span id="cl-policy">-</span>
      <span>nodes up / all</span><span id="cl-up">-</span>
      <span>hints waiting</span><span id="cl-hints">-</span>
      <span>hints written / replayed</span><span id="cl-hint-counts">-</span>
      <span>read repairs / failovers / hedged</span><span id="cl-reads">-</span>
      <span>anti-entropy rounds / keys repaired / pushed</span><span id="cl-ae">-</span></div>
    <div id="cl-moving" style="display:none;max-width:640px;margin-bottom:8px">
      <b id="cl-moving-text"></b><div class="bar"><div id="cl-moving-bar" style="width:0"></div></div></div>
    <table id="cluster-nodes"><thead><tr><th>zone</th><th>node</th><th>address</th><th>state</th>
      <th>partitions</th><th>moving synced</th><th>weight</th><th>disk used</th><th>disk free</th><th>GET/s</th>
      <th>PUT/s</th><th>p99 GET</th><th>p99 PUT</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Requests by operation</h2>
    <table id="ops"><thead><tr><th>operation</th><th>req/s</th><th>p50</th><th>p99</th>
      <th>errors/s</th><th>requests</th><th>errors</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Volumes</h2>
    <table id="volumes"><thead><tr><th>volume</th><th>state</th><th>filled</th><th>end</th>
      <th>live</th><th>dead</th><th>reclaimed</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Recent warnings and errors <span id="log-counts" class="muted"></span></h2>
    <ul id="logs"></ul></section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const set = (id, v) => { $(id).textContent = v; };
function bytes(n) {
  if (n === undefined || n === null) return "-";
  const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0, v = Number(n);
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + " " + u[i];
}
function rate(n) { return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2); }
function ms(v) {
  if (!v) return "-";
  return v >= 100 ? v.toFixed(0) + " ms" : v >= 1 ? v.toFixed(2) + " ms" : (v * 1000).toFixed(0) + " \u00b5s";
}
function duration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  const p = (x) => String(x).padStart(2, "0");
  return (d > 0 ? d + "d " : "") + h + ":" + p(m) + ":" + p(s % 60);
}
function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}
function fill(tableId, rows, render) {
  const body = $(tableId).tBodies[0];
  body.textContent = "";
  for (const r of rows) { const tr = document.createElement("tr"); render(tr, r); body.appendChild(tr); }
}
function render(s) {
  const n = s.node, st = s.store || {}, d = s.disk || {}, sv = s.server || {};
  set("addr", n.listen + (n.http_listen ? " (ops " + n.http_listen + ")" : ""));
  set("version", n.version); set("pid", n.pid); set("uptime", duration(n.uptime_seconds));
  const ready = $("ready");
  ready.textContent = s.ready.ready ? "ready" : "not ready";
  ready.className = "badge " + (s.ready.ready ? "ok" : "bad");
  set("reason", s.ready.ready ? "" : s.ready.reason);
  const used = d.total_bytes ? d.total_bytes - d.free_bytes : 0;
  set("disk-used", d.total_bytes ? bytes(used) + " used (" + (100 * used / d.total_bytes).toFixed(0) + "%)" : "-");
  $("disk-bar").style.width = d.total_bytes ? (100 * used / d.total_bytes).toFixed(1) + "%" : "0";
  set("disk-free", bytes(d.free_bytes)); set("disk-total", bytes(d.total_bytes)); set("data-dir", n.data);
  set("objects", st.objects); set("logical", bytes(st.logical_bytes)); set("live", bytes(st.live_bytes));
  set("dead", bytes(st.dead_bytes)); set("reclaimable", bytes(st.reclaimable_bytes));
  set("reclaimed", bytes(st.reclaimed_bytes)); set("index-mem", bytes(st.index_memory_bytes));
  set("nvolumes", st.volumes + " \u00d7 " + bytes(st.volume_capacity));
  set("conns", sv.connections + " / " + sv.max_connections);
  $("conn-bar").style.width = sv.max_connections ? (100 * sv.connections / sv.max_connections).toFixed(1) + "%" : "0";
  set("inflight", sv.inflight); set("refused", sv.connections_refused); set("accepted", sv.connections_total);
  const r = s.rates || {};
  set("req-rate", rate(r.requests_per_s || 0)); set("in-rate", bytes(r.bytes_in_per_s) + "/s");
  set("out-rate", bytes(r.bytes_out_per_s) + "/s"); set("req-total", sv.requests_total);
  set("window", (s.window_seconds || 0).toFixed(0) + " s");
  fill("ops", s.ops || [], (tr, o) => {
    cell(tr, o.op); cell(tr, rate(o.rate_per_s)); cell(tr, ms(o.p50_ms)); cell(tr, ms(o.p99_ms));
    cell(tr, rate(o.errors_per_s), o.errors_per_s > 0 ? "lvl-error" : "");
    cell(tr, o.requests_total); cell(tr, o.errors_total);
  });
  fill("volumes", st.volume_list || [], (tr, v) => {
    cell(tr, String(v.id).padStart(8, "0")); cell(tr, v.state);
    const td = cell(tr, "");
    const bar = document.createElement("div"); bar.className = "bar";
    const inner = document.createElement("div");
    inner.style.width = v.capacity ? (100 * v.end / v.capacity).toFixed(1) + "%" : "0";
    bar.appendChild(inner); td.appendChild(bar);
    cell(tr, bytes(v.end)); cell(tr, bytes(v.live_bytes)); cell(tr, bytes(v.dead_bytes));
    cell(tr, bytes(v.reclaimed_bytes));
  });
  const c = s.cluster;
  $("cluster").style.display = c ? "block" : "none";
  if (c) {
    const nodes = (c.nodes || []).slice().sort((a, b) => a.zone < b.zone ? -1 : a.zone > b.zone ? 1 : a.id - b.id);
    set("cl-epoch", c.epoch);
    set("cl-self", c.self + (c.controller ? " (controller)" : ""));
    set("cl-etcd", c.etcd_reachable ? "reachable" : "unreachable: serving on the map it has");
    set("cl-policy", c.write_policy + ", R = " + c.replicas);
    set("cl-up", nodes.filter((n) => n.state === "up").length + " / " + nodes.length);
    set("cl-hints", bytes(c.hints.queue_bytes) + (c.hints.oldest_age_s > 0 ? ", oldest " + duration(c.hints.oldest_age_s) : ""));
    set("cl-hint-counts", c.hints.written + " / " + c.hints.replayed);
    set("cl-reads", c.counters.read_repairs + " / " + c.counters.failovers + " / " + c.counters.hedged);
    const ae = c.anti_entropy || {};
    set("cl-ae", ae.rounds + " / " + ae.keys_repaired + " / " + bytes(ae.bytes_pushed));
    // A transition in flight (a node added, drained, removed or reweighted, or one out):
    // the moving partitions synced so far, summed from what each node leads.
    const t = c.transition;
    const mv = $("cl-moving");
    mv.style.display = t ? "block" : "none";
    mv.dataset.moving = t ? t.moving_partitions : 0;
    mv.dataset.synced = t ? t.partitions_synced : 0;
    if (t) {
      const up = nodes.filter((n) => n.state === "up").length;
      set("cl-moving-text", "Transition to epoch " + t.epoch + ": " + t.partitions_synced + " of " +
          t.moving_partitions + " moving partitions synced (" + t.nodes_reported + " of " + up +
          " nodes up reported)");
      $("cl-moving-bar").style.width = (100 * Math.min(1, t.partitions_synced / t.moving_partitions)).toFixed(1) + "%";
    }
    fill("cluster-nodes", nodes, (tr, n) => {
      cell(tr, n.zone); cell(tr, n.id + (n.id === c.self ? " (this)" : "")); cell(tr, n.address);
      cell(tr, n.state, n.state === "up" ? "" : "lvl-error");
      const before = n.partitions_before;
      cell(tr, before !== undefined && before !== n.partitions ? before + " \u2192 " + n.partitions : String(n.partitions), "n-partitions");
      cell(tr, n.sync ? n.sync.synced + " / " + n.sync.led : "-", "n-sync");
      cell(tr, n.weight);
      tr.dataset.state = n.state;
      tr.id = "node-" + n.id;
      // Disk, rates and p99s: this node's own, the others' as its peer poller last saw them.
      const x = n.stats;
      if (!x) {
        tr.dataset.answer = "unknown";
        const td = cell(tr, n.state === "out" ? "not polled" : "waiting for its first answer", "muted");
        td.colSpan = 6;
      } else if (!x.answering) {
        tr.dataset.answer = "no";
        const when = x.no_answer_since_unix_ms ? new Date(x.no_answer_since_unix_ms).toLocaleTimeString() : "-";
        const td = cell(tr, "no answer since " + when + (x.error ? ": " + x.error : ""), "lvl-error n-no-answer");
        td.colSpan = 6; td.style.textAlign = "left";
      } else {
        tr.dataset.answer = "yes";
        cell(tr, x.disk_total_bytes ? bytes(x.disk_used_bytes) + " (" + (100 * x.disk_used_bytes / x.disk_total_bytes).toFixed(0) + "%)" : "-", "n-disk-used");
        cell(tr, x.disk_total_bytes ? bytes(x.disk_free_bytes) : "-", "n-disk-free");
        cell(tr, rate(x.get_per_s || 0), "n-get-rate"); cell(tr, rate(x.put_per_s || 0), "n-put-rate");
        cell(tr, ms(x.get_p99_ms), "n-get-p99"); cell(tr, ms(x.put_p99_ms), "n-put-p99");
      }
    });
  }
  const logs = s.logs || { recent: [] };
  set("log-counts", "(" + logs.warnings_total + " warnings, " + logs.errors_total + " errors since start)");
  const ul = $("logs");
  ul.textContent = "";
  if (logs.recent.length === 0) {
    const li = document.createElement("li"); li.className = "muted"; li.textContent = "none";
    ul.appendChild(li);
  }
  for (const l of logs.recent.slice().reverse()) {
    const li = document.createElement("li");
    const lvl = document.createElement("span");
    lvl.className = "lvl-" + l.level; lvl.textContent = l.level;
    li.append(new Date(l.unix_ms).toISOString() + " ", lvl, " " + l.text);
    ul.appendChild(li);
  }
  set("updated", new Date().toLocaleTimeString());
  $("banner").style.display = "none";
}
async function poll() {
  try {
    const res = await fetch("status.json", { cache: "no-store" });
    if (!res.ok) throw new Error("HTTP " + res.status);
    render(await res.json());
  } catch (e) {
    const b = $("banner");
    b.textContent = "Cannot reach the node: " + e.message + " (retrying)";
    b.style.display = "block";
    const ready = $("ready"); ready.textContent = "unreachable"; ready.className = "badge bad";
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
)HTML";

}  // namespace

std::string_view StatusPageHtml() { return {kPage, sizeof(kPage) - 1}; }

}  // namespace cairn::ops
