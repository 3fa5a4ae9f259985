// The worker-scaling chart as inline SVG: four panels on one time axis (pods, task queue,
// throughput, CPU), the run's start and end marked. Plain DOM, no library; exposes
// window.ScalingChart.draw(container, legend, timeline, hpa, run, workerPods).
"use strict";

(() => {
  const NS = "http://www.w3.org/2000/svg";
  const M = { left: 64, right: 16, top: 18, bottom: 30 };
  const PANEL = 92, GAP = 26;
  const COLORS = {
    ready: "#1f6feb", running: "#1f6feb", desired: "#8250df", queue: "#bf8700", unacked: "#bf8700",
    rate: "#1a7f37", pod: "#1a7f37", cpu: "#cf222e", target: "#cf222e", node: "#57606a",
  };
  let last = null;

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Ticks at 1, 2 or 5 × 10^k, at most `count` of them above zero; whole numbers when `integer`.
  function niceTicks(max, count, integer) {
    const raw = Math.max(max, integer ? 1 : 1e-9) / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
    if (integer) step = Math.max(1, Math.round(step));
    const top = Math.max(step, Math.ceil(max / step) * step);
    const ticks = [];
    for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
    return { top, ticks };
  }

  function label(v) {
    if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
    if (v >= 1e4) return `${+(v / 1e3).toFixed(0)}k`;
    return String(+v.toFixed(1));
  }

  const stepPath = (points) => points.map(([x, y], k) => (k ? `H${x.toFixed(1)}V${y.toFixed(1)}` : `M${x.toFixed(1)},${y.toFixed(1)}`)).join("");
  // A rate holds over the interval before its sample: the step rises at the previous sample.
  const stepBefore = (points) => points.map(([x, y], k) => (k ? `V${y.toFixed(1)}H${x.toFixed(1)}` : `M${x.toFixed(1)},${y.toFixed(1)}`)).join("");
  const linePath = (points) => points.map(([x, y], k) => `${k ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");

  function draw(container, legend, timeline, hpa, run, workerPods) {
    last = [container, legend, timeline, hpa, run, workerPods];
    run = run || {};
    workerPods = workerPods || [];
    // One SVG unit per CSS pixel, so that the text keeps its size whatever the page's width.
    const W = Math.max(480, Math.round(container.clientWidth || 1000));
    const time = (row) => Date.parse(row.timestamp);
    const times = [...timeline, ...hpa].map(time).filter(isFinite);
    if (!times.length) return container.replaceChildren();
    const start = Date.parse(run.started_at || ""), end = Date.parse(run.finished_at || "");
    const t0 = Math.min(...times), t1 = Math.max(t0 + 1000, ...times);
    const x = (t) => M.left + ((t - t0) / (t1 - t0)) * (W - M.left - M.right);
    const H = M.top + 4 * PANEL + 3 * GAP + M.bottom;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
      "aria-label": "worker pods, task queue, throughput and CPU over time" });
    const keys = [];
    const values = (rows, field) => rows.map((r) => r[field]).filter((v) => typeof v === "number");
    const series = (rows, field) => rows.filter((r) => typeof r[field] === "number" && isFinite(time(r)));

    const panels = [
      { title: "worker pods", integer: true, max: Math.max(1, ...values(timeline, "desired"), ...values(timeline, "total"), ...values(hpa, "replicas")) },
      { title: "task queue", integer: true, max: Math.max(1, ...values(timeline, "queue_ready"), ...values(timeline, "queue_unacked")) },
      { title: "events/s", integer: false, max: Math.max(1, ...values(timeline, "events_per_second")) },
      { title: "CPU %", integer: false, max: Math.max(100, ...values(hpa, "cpu_percent"), ...values(hpa, "target_percent"), ...values(timeline, "node_cpu_percent")) },
    ];
    panels.forEach((panel, k) => {
      const top = M.top + k * (PANEL + GAP), bottom = top + PANEL;
      const { top: vmax, ticks } = niceTicks(panel.max, 4, panel.integer);
      panel.y = (v) => bottom - (v / vmax) * PANEL;
      const axis = svg("g", { class: "axis" });
      for (const v of ticks) {
        axis.append(svg("line", { class: "grid", x1: M.left, x2: W - M.right, y1: panel.y(v), y2: panel.y(v) }));
        axis.append(svg("text", { x: M.left - 6, y: panel.y(v) + 4, "text-anchor": "end", class: "tick" }, label(v)));
      }
      axis.append(svg("line", { class: "axis-line", x1: M.left, x2: W - M.right, y1: bottom, y2: bottom }));
      // The title above the panel, in the gap, so that it never hides a line.
      axis.append(svg("text", { x: M.left, y: top - 5, class: "tick" }, panel.title));
      root.append(axis);
      // The run: a shaded span from its start to its end (or to now), in every panel.
      if (isFinite(start)) {
        const a = x(Math.max(t0, start)), b = x(isFinite(end) ? Math.min(t1, end) : t1);
        root.append(svg("rect", { x: a, y: top, width: Math.max(0, b - a), height: PANEL, fill: "#8c959f", "fill-opacity": 0.08 }));
        for (const [t, dash] of [[start, ""], [end, "4 3"]]) {
          if (isFinite(t) && t >= t0 && t <= t1) {
            root.append(svg("line", { x1: x(t), x2: x(t), y1: top, y2: bottom, stroke: "#24292f", "stroke-width": 1, "stroke-dasharray": dash }));
          }
        }
      }
    });
    const axisY = M.top + 4 * PANEL + 3 * GAP;  // the bottom of the last panel
    const span = t1 - t0, every = [10, 30, 60, 120, 300, 600, 1800, 3600].find((s) => span / 1000 / s <= 8) || 7200;
    for (let t = Math.ceil(t0 / 1000 / every) * every * 1000; t <= t1; t += every * 1000) {
      root.append(svg("text", { x: x(t), y: axisY + 18, "text-anchor": "middle", class: "tick" }, new Date(t).toISOString().slice(11, 19)));
    }
    root.append(svg("text", { x: W - M.right, y: H - 2, "text-anchor": "end", class: "tick" },
      isFinite(start) ? "time (UTC); shaded: the run, solid line its start, dashed its end" : "time (UTC)"));

    const add = (panel, name, d, attrs, style) => {
      root.append(svg("path", { d, fill: "none", "stroke-linejoin": "round", ...attrs }));
      if (name) keys.push([name, attrs.stroke, style]);
    };
    const pts = (rows, field, panel) => rows.map((r) => [x(time(r)), panels[panel].y(r[field])]);
    const hold = (points) => (points.length ? [...points, [x(t1), points[points.length - 1][1]]] : points);

    const desired = series(timeline, "desired"), running = series(timeline, "running"), ready = series(timeline, "ready");
    if (ready.length) {
      const line = hold(pts(ready, "ready", 0));
      root.append(svg("path", { d: `${stepPath(line)}V${panels[0].y(0)}H${line[0][0].toFixed(1)}Z`, fill: COLORS.ready, "fill-opacity": 0.12 }));
      add(0, "pods ready", stepPath(line), { stroke: COLORS.ready, "stroke-width": 2.5 }, "");
    }
    if (running.length) add(0, "running", stepPath(hold(pts(running, "running", 0))), { stroke: COLORS.running, "stroke-width": 1.2, "stroke-dasharray": "2 3" }, "dotted");
    if (desired.length) add(0, "desired (autoscaler)", stepPath(hold(pts(desired, "desired", 0))), { stroke: COLORS.desired, "stroke-width": 1.5, "stroke-dasharray": "6 4" }, "dashed");
    else {
      const replicas = series(hpa, "replicas");
      if (replicas.length) add(0, "HPA replicas", stepPath(hold(pts(replicas, "replicas", 0))), { stroke: COLORS.desired, "stroke-width": 1.5, "stroke-dasharray": "6 4" }, "dashed");
    }
    const queue = series(timeline, "queue_ready"), unacked = series(timeline, "queue_unacked");
    if (queue.length) add(1, "tasks ready", stepPath(hold(pts(queue, "queue_ready", 1))), { stroke: COLORS.queue, "stroke-width": 2 }, "");
    if (unacked.length) add(1, "unacknowledged", stepPath(hold(pts(unacked, "queue_unacked", 1))), { stroke: COLORS.unacked, "stroke-width": 1.2, "stroke-dasharray": "5 4" }, "dashed");
    const rate = series(timeline, "events_per_second");
    if (rate.length) add(2, "events/s, all pods", stepBefore(pts(rate, "events_per_second", 2)), { stroke: COLORS.rate, "stroke-width": 2 }, "");
    const byPod = {};
    for (const row of series(workerPods, "events_per_second")) (byPod[row.pod] = byPod[row.pod] || []).push(row);
    const podNames = Object.keys(byPod).sort();
    podNames.forEach((name, k) => add(2, k ? "" : "events/s of each pod", stepBefore(pts(byPod[name], "events_per_second", 2)),
      { stroke: COLORS.pod, "stroke-width": 1, "stroke-opacity": 0.45 }, ""));
    const cpu = series(hpa, "cpu_percent");
    if (cpu.length) add(3, "CPU per pod, % of request (HPA)", linePath(pts(cpu, "cpu_percent", 3)), { stroke: COLORS.cpu, "stroke-width": 2 }, "");
    const target = values(hpa, "target_percent").pop();
    if (typeof target === "number") {
      add(3, `HPA target ${target}%`, `M${M.left},${panels[3].y(target)}H${W - M.right}`,
        { stroke: COLORS.target, "stroke-width": 1.2, "stroke-dasharray": "5 5", "stroke-opacity": 0.7 }, "dashed");
    }
    const node = series(timeline, "node_cpu_percent");
    if (node.length) add(3, "node CPU busy %", linePath(pts(node, "node_cpu_percent", 3)), { stroke: COLORS.node, "stroke-width": 1.2 }, "");

    container.replaceChildren(root);
    legend.replaceChildren(...keys.map(([name, color, style]) => {
      const item = document.createElement("span");
      const key = document.createElement("span");
      key.className = `key ${style}`;
      key.style.borderTopColor = color;
      item.append(key, name);
      return item;
    }));
  }

  let pending = 0;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(() => last && !last[0].closest("[hidden]") && draw(...last), 150);
  });

  window.ScalingChart = { draw, niceTicks };
})();
