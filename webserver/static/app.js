// The results page: polls /api/status every second and re-renders what changed.
// /api/results is fetched only when results.json changes, the plot only when its file changes
// (its URL carries ?v=<plot_version>), the run list and the scaling data only when theirs change.
// The page shows the newest run, or the run named by ?run=<id> (every request then carries it).
// It starts from the status it was served with, and "elapsed" counts on every second from the
// run's start by the server's clock.
"use strict";

(() => {
  const POLL_MS = Number(document.body.dataset.pollMs) || 1000;
  const RUN = document.body.dataset.run || "";
  const withRun = (url) => (RUN ? `${url}${url.includes("?") ? "&" : "?"}run=${encodeURIComponent(RUN)}` : url);
  const STATE_LABELS = {
    waiting: "Waiting for a run",
    running: "Running",
    stalled: "Stalled",
    interrupted: "Interrupted · hzz run --resume finishes it",
    complete: "Complete",
    complete_with_failures: "Complete · failed chunks",
  };
  const $ = (id) => document.getElementById(id);
  const seen = { results: undefined, plot: undefined, scaling: undefined, runs: undefined };
  // What the elapsed clock needs: the shown run's state and start, and the server's clock.
  const clock = { state: "waiting", started: NaN, offsetMs: 0, elapsed: null };

  // ---- formatting ----
  const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const fmtInt = (n) => (typeof n === "number" && isFinite(n) ? integer.format(n) : "—");
  function fmtYield(x) {
    if (typeof x !== "number" || !isFinite(x)) return "—";
    const digits = Math.abs(x) >= 100 ? 1 : Math.abs(x) >= 1 ? 2 : 4;
    return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function fmtRate(x) {
    if (typeof x !== "number" || !isFinite(x)) return "—";
    if (x >= 1e6) return (x / 1e6).toFixed(2) + " M";
    if (x >= 1e3) return (x / 1e3).toFixed(1) + " k";
    return x.toFixed(0);
  }
  function fmtDuration(s, live) {
    if (typeof s !== "number" || !isFinite(s)) return "—";
    if (s < 60) return live ? Math.floor(s) + " s" : s.toFixed(1) + " s";
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
    return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m} min ${String(sec).padStart(2, "0")} s`;
  }
  const fmtTime = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "—");

  // ---- building DOM (text only: nothing from the server is parsed as HTML) ----
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  // Matplotlib mathtext in group labels ("Background $Z,t\bar{t}$") as text with <sub>/<sup>.
  const SYMBOLS = { rightarrow: "→", to: "→", ell: "ℓ", gamma: "γ", mu: "μ", nu: "ν", tau: "τ", pm: "±" };
  function mathInto(parent, src) {
    let i = 0, buf = "";
    const flush = () => { if (buf) { parent.append(buf); buf = ""; } };
    const group = () => {
      if (src[i] !== "{") return src[i++] || "";
      let depth = 1, j = i + 1;
      for (; j < src.length && depth; j++) depth += src[j] === "{" ? 1 : src[j] === "}" ? -1 : 0;
      const inner = src.slice(i + 1, j - 1);
      i = j;
      return inner;
    };
    while (i < src.length) {
      const c = src[i];
      if (c === "^" || c === "_") {
        i++; flush();
        const node = el(c === "^" ? "sup" : "sub");
        mathInto(node, group());
        parent.append(node);
      } else if (c === "\\") {
        const m = /^\\([a-zA-Z]+)/.exec(src.slice(i));
        if (!m) { buf += src[i + 1] === "," ? " " : src[i + 1] || ""; i += 2; continue; }
        i += m[0].length;
        if (m[1] === "bar") buf += group() + "\u0304";
        else if (SYMBOLS[m[1]]) buf += SYMBOLS[m[1]];
        else if (src[i] === "{") { flush(); mathInto(parent, group()); }
      } else if (c === "{" || c === "}") {
        i++;
      } else {
        buf += c; i++;
      }
    }
    flush();
  }
  function label(text) {
    const span = el("span", { class: "label" });
    String(text).split("$").forEach((part, k) => (k % 2 ? mathInto(span, part) : span.append(part)));
    return span;
  }
  // A yield with its uncertainty, the uncertainty to two significant digits and the value to the
  // same decimal place: "264.85 ± 0.39", "0.00151 ± 0.00022"; counts as integers: "507 ± 23".
  function fmtYieldUnc(y) {
    const x = y.weighted_yield, u = y.weighted_yield_uncertainty;
    if (y.is_data) return typeof u === "number" && isFinite(u) ? `${fmtInt(x)} ± ${fmtInt(u)}` : fmtInt(x);
    if (typeof x !== "number" || !isFinite(x) || typeof u !== "number" || !isFinite(u) || u <= 0) return fmtYield(x);
    const digits = Math.max(0, Math.min(8, 1 - Math.floor(Math.log10(u))));
    const fmt = (v) => v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    return `${fmt(x)} ± ${fmt(u)}`;
  }
  function swatch(color, isData) {
    const s = el("span", { class: isData ? "swatch data" : "swatch" });
    s.style.background = /^#?[\w]+$/.test(color || "") ? color : "#888";
    return s;
  }

  // ---- status ----
  function renderStatus(s) {
    const state = STATE_LABELS[s.state] ? s.state : "waiting";
    const badge = $("state");
    badge.dataset.state = state;
    badge.textContent = STATE_LABELS[state];
    $("run-id").textContent = s.run_id || "—";

    const t = s.tally || {};
    const total = t.total || 0, done = t.done || 0, failed = t.failed || 0, pending = t.pending || 0;
    const pct = (n) => (total ? (100 * n) / total : 0);
    const bar = $("progress");
    bar.dataset.state = state;
    bar.setAttribute("aria-valuenow", String(Math.round(pct(done + failed))));
    $("progress-done").style.width = pct(done) + "%";
    $("progress-failed").style.width = pct(failed) + "%";
    let text = STATE_LABELS.waiting;
    if (state !== "waiting") {
      text = `${fmtInt(done)} of ${fmtInt(total)} chunks done`;
      if (failed) text += ` · ${fmtInt(failed)} failed`;
      if (pending) text += ` · ${fmtInt(pending)} pending`;
      text += ` · ${Math.round(pct(done + failed))} %`;
    }
    $("progress-text").textContent = text;

    const ev = s.events || {};
    $("events-read").textContent = state === "waiting" ? "—" : fmtInt(ev.read);
    $("events-selected").textContent = state === "waiting" ? "— pass the selection" : `${fmtInt(ev.selected)} pass the selection`;
    $("throughput").textContent = fmtRate(s.events_per_second);
    clock.state = state;
    clock.started = s.started_at ? Date.parse(s.started_at) : NaN;
    clock.elapsed = s.elapsed_seconds;
    const serverNow = s.server_time ? Date.parse(s.server_time) : NaN;
    if (isFinite(serverNow)) clock.offsetMs = serverNow - Date.now();
    renderElapsed();
    $("started").textContent = s.started_at ? `started ${fmtTime(s.started_at)}` : "not started";
    $("message").textContent = s.message ? s.message.charAt(0).toUpperCase() + s.message.slice(1) + "." : "";
    $("updated").textContent = s.updated_at ? `results updated ${fmtTime(s.updated_at)}` : "no results yet";
    document.title = `${STATE_LABELS[state]} · H → ZZ* → 4ℓ`;
    renderKV($("run-info"), state === "waiting" ? { state: "waiting for a run" } : {
      "run id": s.run_id || "—",
      started: fmtTime(s.started_at),
      updated: fmtTime(s.updated_at),
      finished: s.finished_at ? fmtTime(s.finished_at) : "not yet",
      chunks: `${fmtInt(total)} in all`,
    });

    const files = new Set(s.files || []);
    for (const a of document.querySelectorAll("#downloads a[data-file]")) {
      a.setAttribute("aria-disabled", String(!files.has(a.dataset.file) || state === "waiting"));
      a.href = withRun(`/files/${encodeURIComponent(a.dataset.file)}?download=1`);
    }
    renderPlot(s, state);
  }

  function renderPlot(s, state) {
    const img = $("plot");
    const has = state !== "waiting" && s.plot_version;
    $("plot-note").textContent = !has ? "no plot yet"
      : state === "running" ? "partial · updates while chunks arrive" : "final";
    if (!has) {
      img.hidden = true;
      $("plot-placeholder").hidden = false;
      seen.plot = undefined;
      return;
    }
    if (seen.plot !== s.plot_version) {
      seen.plot = s.plot_version;
      img.src = withRun(`/files/${encodeURIComponent(s.plot || "hzz_m4l.png")}?v=${encodeURIComponent(s.plot_version)}`);
    }
    img.hidden = false;
    $("plot-placeholder").hidden = true;
  }

  // While a run is running, "elapsed" is now − started_at by the server's clock, every second;
  // otherwise it is the run's own elapsed_seconds.
  function renderElapsed() {
    const live = clock.state === "running" && isFinite(clock.started);
    const seconds = live ? Math.max(0, (Date.now() + clock.offsetMs - clock.started) / 1000) : clock.elapsed;
    $("elapsed").textContent = fmtDuration(seconds, live);
  }

  // ---- runs ----
  const STATE_SHORT = {
    running: "running", stalled: "stalled", interrupted: "interrupted",
    complete: "complete", complete_with_failures: "failed chunks",
  };
  function renderRuns(list) {
    const ul = $("runs");
    const runs = (list && Array.isArray(list.runs)) ? list.runs : [];
    $("follow-latest").hidden = !RUN;
    if (!runs.length) return ul.replaceChildren(el("li", { class: "empty" }, "No runs yet"));
    ul.replaceChildren(...runs.map((r) => {
      const t = r.tally || {};
      const shown = RUN ? r.run_id === RUN : r.latest;
      const link = el("a", { class: "run-link", href: r.latest && !RUN ? "/" : `/?run=${encodeURIComponent(r.run_id)}` },
        el("span", { class: "run-state", "data-state": String(r.state) }, STATE_SHORT[r.state] || String(r.state)),
        el("code", { class: "run-id" }, String(r.run_id)),
        el("span", { class: "run-chunks" }, `${fmtInt(t.done)}/${fmtInt(t.total)} chunks`),
        el("span", { class: "run-started" }, fmtTime(r.started_at)));
      if (shown) link.setAttribute("aria-current", "page");
      return el("li", { class: shown ? "run-item shown" : "run-item" }, link);
    }));
  }

  // ---- results ----
  function renderResults(r) {
    renderGroups(r);
    renderYields(r);
    renderFailed(r ? r.failed_chunks : []);
    renderWarnings(r ? r.warnings : []);
    // What ran the run's messages (results.json "transport"): RabbitMQ at its URL, or embedded.
    const tr = r && r.transport;
    renderKV($("settings"), r && r.settings && (tr ? { transport: tr.broker_url ? `${tr.kind} at ${tr.broker_url}` : tr.kind, ...r.settings } : r.settings));
    renderKV($("versions"), r && r.versions);
    const data = (r && r.data) || {};
    $("data-count").textContent = r ? fmtInt(data.in_range) : "—";
    $("data-selected").textContent = r ? `of ${fmtInt(data.events_selected)} selected data events` : "selected data events";
  }

  function emptyRow(cols, text) {
    return el("tr", { class: "empty" }, el("td", { colspan: String(cols) }, text));
  }

  function renderGroups(r) {
    const body = $("group-yields").tBodies[0];
    const groups = Object.entries((r && r.groups) || {});
    if (!groups.length) return body.replaceChildren(emptyRow(3, "No results yet"));
    const rows = groups.map(([name, g]) => el("tr", {},
      el("td", { class: "group-name" }, swatch(g.color, g.is_data), label(name)),
      el("td", { class: "num" }, fmtInt(g.events_selected)),
      el("td", { class: "num" }, fmtYieldUnc(g))));
    const bkg = groups.filter(([, g]) => !g.is_data && !g.is_signal)
      .reduce((sum, [, g]) => sum + (Number(g.weighted_yield) || 0), 0);
    const sig = groups.filter(([, g]) => g.is_signal)
      .reduce((sum, [, g]) => sum + (Number(g.weighted_yield) || 0), 0);
    rows.push(el("tr", { class: "total-row" }, el("td", {}, "Total background"), el("td"),
      el("td", { class: "num" }, fmtYield(bkg))));
    if (sig) {
      rows.push(el("tr", {}, el("td", {}, "Background + signal"), el("td"),
        el("td", { class: "num" }, fmtYield(bkg + sig))));
    }
    // The 2025 notebook's significance over its mass window, when the profile computes one.
    const z = r && r.significance;
    if (z && Number.isFinite(Number(z.significance))) {
      const [lo, hi] = z.window || [];
      rows.push(el("tr", { class: "total-row", id: "significance" },
        el("td", { colspan: "2" }, `Significance, ${lo}–${hi} GeV`,
          el("div", { class: "hint" }, `N_sig ${fmtYield(z.n_sig)} · N_bg ${fmtYield(z.n_bg)}`)),
        el("td", { class: "num" }, Number(z.significance).toFixed(2))));
    }
    body.replaceChildren(...rows);
  }

  function renderYields(r) {
    const body = $("yields").tBodies[0];
    const samples = (r && r.samples) || {};
    const groups = Object.entries((r && r.groups) || {});
    if (!groups.length) return body.replaceChildren(emptyRow(5, "No results yet"));
    const rows = [];
    for (const [name, g] of groups) {
      const members = (g.samples || []).filter((s) => samples[s]);
      const chunks = members.reduce((acc, s) => {
        acc.done += samples[s].chunks_done || 0; acc.total += samples[s].chunks_total || 0;
        acc.failed += samples[s].chunks_failed || 0; return acc;
      }, { done: 0, total: 0, failed: 0 });
      rows.push(yieldRow("group-row", [swatch(g.color, g.is_data), label(name)], chunks, g));
      for (const s of members) rows.push(yieldRow("sample-row", [s], {
        done: samples[s].chunks_done, total: samples[s].chunks_total, failed: samples[s].chunks_failed,
      }, samples[s]));
    }
    body.replaceChildren(...rows);
  }

  function yieldRow(cls, first, chunks, y) {
    const cell = el("td", { class: "num" }, `${fmtInt(chunks.done)} / ${fmtInt(chunks.total)}`);
    if (chunks.failed) cell.append(" ", el("span", { class: "chunks-failed" }, `(${fmtInt(chunks.failed)} failed)`));
    return el("tr", { class: cls }, el("td", {}, ...first), cell,
      el("td", { class: "num" }, fmtInt(y.events_read)),
      el("td", { class: "num" }, fmtInt(y.events_selected)),
      el("td", { class: "num" }, fmtYieldUnc(y)));
  }

  function renderFailed(list) {
    const items = Array.isArray(list) ? list : [];
    const ul = $("failed-chunks");
    $("failed-count").textContent = String(items.length);
    $("failed-count").dataset.count = String(items.length);
    if (!items.length) return ul.replaceChildren(el("li", { class: "empty" }, "No failed chunks"));
    ul.replaceChildren(...items.map((c) => el("li", { class: "failed-chunk" },
      el("div", { class: "chunk-id" }, String(c.chunk_id || "unknown chunk")),
      el("div", { class: "chunk-meta" }, `sample ${c.sample || "?"} · attempt ${c.attempt ?? "?"}`),
      el("pre", { class: "chunk-error" }, String(c.error || "no error message")))));
  }

  // results.json "warnings": samples asked for that give nothing to read (an empty file, say).
  function renderWarnings(list) {
    const items = Array.isArray(list) ? list : [];
    $("warnings-card").hidden = !items.length;
    $("warnings-count").textContent = String(items.length);
    $("warnings").replaceChildren(...items.map((w) => el("li", { class: "warning" }, String(w))));
  }

  function renderKV(dl, obj) {
    const entries = Object.entries(obj || {});
    if (!entries.length) return dl.replaceChildren(el("dt", {}, "—"), el("dd", {}, "No results yet"));
    const show = (v) => (v === null || v === "" ? "—" : Array.isArray(v) ? v.join(", ")
      : typeof v === "object" ? JSON.stringify(v) : String(v));
    dl.replaceChildren(...entries.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, show(v))]));
  }

  // ---- scaling ----
  function renderScaling(sc, version) {
    const card = $("scaling");
    card.hidden = !sc || !sc.available;
    if (card.hidden) return;
    const hasRows = (sc.pods && sc.pods.length) || (sc.hpa && sc.hpa.length);
    const img = $("scaling-png");
    if (hasRows && window.ScalingChart) {
      window.ScalingChart.draw($("scaling-chart"), $("scaling-legend"), sc.pods || [], sc.hpa || [], sc.run, sc.worker_pods);
      img.hidden = true;
    } else if (sc.png) {
      $("scaling-chart").replaceChildren();
      $("scaling-legend").replaceChildren();
      img.src = `/files/scaling.png?v=${encodeURIComponent(version || "")}`;  // the deployment's, never per run
      img.hidden = false;
    }
  }

  function renderScalingLinks(files) {
    const names = ["scaling.md", "scaling.png", "pod_scaling.csv", "worker_pods.csv", "hpa_metrics.csv", "pod_scaling.log", "hpa_metrics.log"];
    const links = names.filter((n) => files.includes(n))
      .map((n) => el("a", { href: `/files/${n}?download=1` }, n));
    const box = $("scaling-links");
    box.replaceChildren();
    links.forEach((a, k) => box.append(k ? " · " : "download: ", a));
  }

  // ---- polling ----
  async function getJSON(url) {
    const response = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  async function tick() {
    try {
      const s = await getJSON(withRun("/api/status"));
      if (!s) throw new Error("no such run");
      renderStatus(s);
      if (s.runs_version !== seen.runs) {
        renderRuns(await getJSON("/api/runs"));
        seen.runs = s.runs_version;
      }
      if (s.results_version !== seen.results) {
        const r = s.results_version ? await getJSON(withRun("/api/results")) : null;
        renderResults(r && r.schema_version ? r : null);
        seen.results = s.results_version;
      }
      if (s.scaling_version !== seen.scaling) {
        renderScaling(s.scaling_version ? await getJSON("/api/scaling") : null, s.scaling_version);
        renderScalingLinks(s.files || []);
        seen.scaling = s.scaling_version;
      }
      $("connection").dataset.ok = "true";
      $("connection").textContent = `live · every ${POLL_MS / 1000} s${RUN ? ` · run ${RUN}` : ""}`;
    } catch (err) {
      $("connection").dataset.ok = "false";
      $("connection").textContent = "server unreachable · retrying";
    } finally {
      setTimeout(tick, POLL_MS);
    }
  }

  // The status the page was served with: shown at once, before the first poll returns.
  try {
    const initial = JSON.parse($("initial-status").textContent || "null");
    if (initial && initial.state) renderStatus(initial);
  } catch (err) { /* a page without it just waits for the first poll */ }
  setInterval(renderElapsed, 1000);
  tick();
})();
