// The worker-scaling chart as inline SVG: pods (left axis, steps) and HPA CPU (right axis, %).
// Plain DOM, no library; exposes window.ScalingChart.draw(container, legend, pods, hpa).
"use strict";

(() => {
  const NS = "http://www.w3.org/2000/svg";
  const H = 280, M = { left: 52, right: 58, top: 12, bottom: 34 };
  let W = 1000;
  let last = null;
  const COLORS = { pods: "#1f6feb", total: "#1f6feb", replicas: "#8250df", cpu: "#cf222e", target: "#cf222e" };

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceMax(x, step) {
    return Math.max(step, Math.ceil(x / step) * step);
  }

  // Points of a step line (value holds until the next sample) through (x, y) pairs.
  function stepPath(points) {
    return points.map(([x, y], k) => (k ? `H${x.toFixed(1)}V${y.toFixed(1)}` : `M${x.toFixed(1)},${y.toFixed(1)}`)).join("");
  }
  function linePath(points) {
    return points.map(([x, y], k) => `${k ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
  }

  function draw(container, legend, pods, hpa) {
    // One SVG unit per CSS pixel, so that the text keeps its size whatever the page's width.
    last = [container, legend, pods, hpa];
    W = Math.max(480, Math.round(container.clientWidth || 1000));
    const time = (row) => Date.parse(row.timestamp);
    const times = [...pods, ...hpa].map(time).filter(isFinite);
    if (!times.length) return container.replaceChildren();
    const t0 = Math.min(...times), t1 = Math.max(t0 + 1000, Math.max(...times));
    const counts = [...pods.flatMap((p) => [p.pods, p.total]), ...hpa.map((h) => h.replicas)]
      .filter((n) => typeof n === "number");
    const podMax = niceMax(Math.max(1, ...counts), Math.max(1, Math.ceil(Math.max(1, ...counts) / 8)));
    const cpuValues = hpa.flatMap((h) => [h.cpu_percent, h.target_percent]).filter((n) => typeof n === "number");
    const cpuMax = niceMax(Math.max(100, ...cpuValues), 25);
    const x = (t) => M.left + ((t - t0) / (t1 - t0)) * (W - M.left - M.right);
    const yPods = (n) => H - M.bottom - (n / podMax) * (H - M.top - M.bottom);
    const yCpu = (p) => H - M.bottom - (p / cpuMax) * (H - M.top - M.bottom);

    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "worker pods and CPU over time" });
    const axis = svg("g", { class: "axis" });
    root.append(axis);
    // Horizontal grid on the pod axis, with the CPU axis's labels at the same heights.
    const ticks = 4;
    for (let k = 0; k <= ticks; k++) {
      const y = H - M.bottom - (k / ticks) * (H - M.top - M.bottom);
      axis.append(svg("line", { class: "grid", x1: M.left, x2: W - M.right, y1: y, y2: y }));
      const pods = (podMax * k) / ticks;
      axis.append(svg("text", { x: M.left - 8, y: y + 4, "text-anchor": "end", class: "tick" },
        Number.isInteger(pods) ? String(pods) : pods.toFixed(1)));
      axis.append(svg("text", { x: W - M.right + 8, y: y + 4, class: "tick" }, `${Math.round((cpuMax * k) / ticks)}%`));
    }
    const span = t1 - t0, every = [10, 30, 60, 120, 300, 600, 1800, 3600].find((s) => span / 1000 / s <= 8) || 7200;
    for (let t = Math.ceil(t0 / 1000 / every) * every * 1000; t <= t1; t += every * 1000) {
      const label = new Date(t).toISOString().slice(11, 19);
      axis.append(svg("text", { x: x(t), y: H - M.bottom + 18, "text-anchor": "middle", class: "tick" }, label));
      axis.append(svg("line", { class: "axis-line", x1: x(t), x2: x(t), y1: H - M.bottom, y2: H - M.bottom + 4 }));
    }
    axis.append(svg("line", { class: "axis-line", x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom }));
    axis.append(svg("text", { x: 14, y: (H - M.bottom) / 2, transform: `rotate(-90 14 ${(H - M.bottom) / 2})`,
      "text-anchor": "middle", class: "tick" }, "worker pods"));
    axis.append(svg("text", { x: W - 10, y: (H - M.bottom) / 2, transform: `rotate(90 ${W - 10} ${(H - M.bottom) / 2})`,
      "text-anchor": "middle", class: "tick" }, "CPU, % of request"));
    axis.append(svg("text", { x: W - M.right, y: H - 4, "text-anchor": "end", class: "tick" }, "time (UTC)"));

    const keys = [];
    const add = (name, d, attrs, key) => {
      root.append(svg("path", { d, fill: "none", "stroke-linejoin": "round", ...attrs }));
      keys.push([name, attrs.stroke, key]);
    };
    const podRows = pods.filter((p) => isFinite(time(p)));
    if (podRows.length) {
      const running = podRows.map((p) => [x(time(p)), yPods(p.pods)]);
      running.push([x(t1), running[running.length - 1][1]]);
      const area = `${stepPath(running)}V${yPods(0)}H${running[0][0].toFixed(1)}Z`;
      root.insertBefore(svg("path", { d: area, fill: COLORS.pods, "fill-opacity": 0.1 }), root.firstChild.nextSibling);
      add("Running pods", stepPath(running), { stroke: COLORS.pods, "stroke-width": 2.5 }, "");
      const total = podRows.map((p) => [x(time(p)), yPods(p.total)]);
      total.push([x(t1), total[total.length - 1][1]]);
      add("All pods", stepPath(total), { stroke: COLORS.total, "stroke-width": 1.5, "stroke-dasharray": "2 3" }, "dotted");
    }
    const rep = hpa.filter((h) => typeof h.replicas === "number" && isFinite(time(h)));
    if (rep.length) {
      const pts = rep.map((h) => [x(time(h)), yPods(h.replicas)]);
      pts.push([x(t1), pts[pts.length - 1][1]]);
      add("HPA replicas", stepPath(pts), { stroke: COLORS.replicas, "stroke-width": 1.5, "stroke-dasharray": "6 4" }, "dashed");
    }
    const cpu = hpa.filter((h) => typeof h.cpu_percent === "number" && isFinite(time(h)));
    if (cpu.length) {
      add("CPU (% of request)", linePath(cpu.map((h) => [x(time(h)), yCpu(h.cpu_percent)])),
        { stroke: COLORS.cpu, "stroke-width": 2 }, "");
    }
    const target = hpa.map((h) => h.target_percent).filter((n) => typeof n === "number").pop();
    if (typeof target === "number") {
      add(`CPU target ${target}%`, `M${M.left},${yCpu(target)}H${W - M.right}`,
        { stroke: COLORS.target, "stroke-width": 1.2, "stroke-dasharray": "5 5", "stroke-opacity": 0.7 }, "dashed");
    }
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

  window.ScalingChart = { draw };
})();
