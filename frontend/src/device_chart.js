// The device page's chart: one metric over a chosen window, drawn with uPlot; or several the
// device type draws together (an option with `data-labels`: room against target temperature).
//
// The server picks the resolution (raw points for short windows, hourly or daily rollups
// for longer ones: /devices/{id}/series.json), so a year loads as fast as a day.
import uPlot from "uplot";

const box = document.querySelector("[data-device-chart]");
const card = box?.closest(".device-chart-card");
const texts = JSON.parse(document.getElementById("device-texts")?.textContent || "{}");
const HOUR = 3600 * 1000;
const WINDOWS = { "24h": 24 * HOUR, "7d": 7 * 24 * HOUR, "30d": 30 * 24 * HOUR, "1y": 365 * 24 * HOUR };

const state = { window: "24h", from: null, to: null, request: 0 };
let plot = null;

function cssColour(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function range() {
  if (state.window === "custom") return [state.from, state.to];
  const to = new Date();
  return [new Date(to.getTime() - WINDOWS[state.window]), to];
}

function caption(message) {
  card.querySelector("[data-chart-caption]").textContent = message;
}

function metricOption() {
  const select = card.querySelector("[data-chart-metric]");
  return select.options[select.selectedIndex];
}

function resolutionText(data) {
  const counter = data.kind === "counter" && (data.resolution === "hour" || data.resolution === "day");
  return texts[counter ? `${data.resolution}_counter` : data.resolution] || data.resolution;
}

const language = document.documentElement.lang || undefined;
const DAY = 86400;

// Axis and legend times in the page's language, 24-hour clock. Ticks closer than a day apart show
// the time, and the date only on the first tick of each day, so the axis does not repeat it.
function timeFormatter(spanSeconds) {
  const clock = new Intl.DateTimeFormat(language, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const date = new Intl.DateTimeFormat(language, spanSeconds <= 93 * DAY ? { day: "2-digit", month: "2-digit" }
    : { month: "short", year: "numeric" });
  const full = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short", hourCycle: "h23" });
  const ticks = (splits, increment) => {
    let previousDay = null;
    return splits.map((seconds) => {
      const at = new Date(seconds * 1000);
      if (increment >= DAY) return date.format(at);
      const day = at.toDateString();
      const first = day !== previousDay;
      previousDay = day;
      return first ? `${date.format(at)}\n${clock.format(at)}` : clock.format(at);
    });
  };
  return { ticks, full: (seconds) => full.format(seconds * 1000) };
}

// Values with the page language's decimal separator: "21,5 °C" on a German page.
const decimal = new Intl.NumberFormat(language, { maximumFractionDigits: 2 });

// What the axes show, readable beside the canvas they are drawn on (for tests and tools).
function shown(axis, labels) {
  box.dataset[axis] = JSON.stringify(labels);
  return labels;
}

function countText(count, forms = texts.values || {}) {
  const form = forms[new Intl.PluralRules(language).select(count)] || forms.other || "%(num)s";
  return form.replace("%(num)s", decimal.format(count));
}

// Values that are not measured (a meter operator's substitute, provisional or estimated values)
// are ringed in a colour of their own, with a legend entry each; the caption counts them in words.
const MARK_STYLES = {
  substitute: { colour: ["--bad", "#dc2626"], size: 11 },
  estimated: { colour: ["--warn", "#d97706"], size: 11 },
  provisional: { colour: ["--muted", "#687083"], size: 9 },
};
const MARK_ORDER = Object.keys(MARK_STYLES);

function markedStatuses(data) {
  return MARK_ORDER.filter((status) => (data.marks?.[status] || []).length > 0);
}

// One column per status: the value where the point (or bucket) has that status, gaps elsewhere.
function markColumn(data, status) {
  const column = data.values.map(() => null);
  for (const index of data.marks[status]) column[index] = data.values[index];
  return column;
}

function markSeries(status, label, format) {
  const style = MARK_STYLES[status];
  const colour = cssColour(...style.colour);
  return {
    label, value: format, stroke: colour, width: 0, paths: () => null,
    points: { show: true, size: style.size, width: 2, stroke: colour, fill: cssColour("--surface", "#ffffff") },
  };
}

// How many values of each status are drawn (a bucket may hold several).
function marksText(loaded) {
  const counts = {};
  for (const one of loaded) {
    for (const status of markedStatuses(one)) counts[status] = (counts[status] || 0) + (one.mark_counts?.[status] || 0);
  }
  return MARK_ORDER.filter((status) => counts[status])
    .map((status) => countText(counts[status], texts.marked?.[status] || {}));
}

// Colours of the second and further series of an overlay; the first is the accent.
const OVERLAY_COLOURS = [["--warn", "#c2410c"], ["--ok", "#15803d"], ["--bad", "#b91c1c"]];

function draw(loaded, from, to) {
  const option = metricOption();
  const [data] = loaded;
  const unit = data.unit ? ` ${data.unit}` : "";
  const aggregated = data.resolution !== "raw";
  const overlaid = loaded.length > 1;
  const accent = cssColour("--accent", "#2563eb");
  const muted = cssColour("--muted", "#687083");
  const grid = { stroke: cssColour("--border", "#e2e5ea"), width: 1 };
  const axis = { stroke: muted, grid, ticks: grid };
  const format = (u, value) => (value == null ? "–" : `${decimal.format(value)}${unit}`);
  const times = timeFormatter((to - from) / 1000);
  const labels = overlaid ? JSON.parse(option.dataset.labels) : [option.textContent.trim()];
  const series = [{ label: texts.time || "Time", value: (u, value) => (value == null ? "–" : times.full(value)) }];
  const tables = [];
  loaded.forEach((one, index) => {
    series.push({
      label: labels[index],
      stroke: index === 0 ? accent : cssColour(...OVERLAY_COLOURS[(index - 1) % OVERLAY_COLOURS.length]),
      width: 2, value: format, points: { show: one.times.length < 60 },
    });
    const statuses = markedStatuses(one);
    for (const status of statuses) {
      const name = texts.mark?.[status] || status;
      series.push(markSeries(status, overlaid ? `${labels[index]}: ${name}` : name, format));
    }
    tables.push([one.times, one.values, ...statuses.map((status) => markColumn(one, status))]);
  });
  // Series reported at different moments share one time axis.
  const columns = overlaid ? uPlot.join(tables) : tables[0];
  if (aggregated && data.kind !== "counter" && !overlaid) {
    // The spread within each bucket, drawn faintly around the mean.
    series.push({ label: texts.minimum || "min", stroke: muted, width: 1, dash: [4, 4], value: format });
    series.push({ label: texts.maximum || "max", stroke: muted, width: 1, dash: [4, 4], value: format });
    columns.push(data.min, data.max);
  }
  const options = {
    width: Math.max(280, box.clientWidth),
    height: box.clientWidth < 500 ? 220 : 300,
    // The whole window, even where data is missing: a gap reads as a gap.
    scales: { x: { time: true, range: () => [from.getTime() / 1000, to.getTime() / 1000] } },
    axes: [
      { ...axis, size: 56, values: (u, splits, axisIndex, space, increment) => shown("timeLabels", times.ticks(splits, increment)) },
      { ...axis, size: 60, values: (u, splits) => shown("valueLabels", splits.map((tick) => `${decimal.format(tick)}${unit}`)) },
    ],
    series,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } }, // the window buttons and the custom range choose what is shown
  };
  plot?.destroy();
  box.replaceChildren();
  plot = new uPlot(options, columns, box);
}

async function fetchSeries(metric, from, to) {
  const query = new URLSearchParams({ metric, from: from.toISOString(), to: to.toISOString() });
  const response = await fetch(`/devices/${box.dataset.deviceId}/series.json?${query}`, {
    headers: { accept: "application/json" }, credentials: "same-origin",
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

async function load() {
  const metrics = card.querySelector("[data-chart-metric]").value.split(",");
  const [from, to] = range();
  const request = ++state.request;
  box.dataset.state = "loading";
  caption(texts.loading || "…");
  let loaded;
  try {
    loaded = await Promise.all(metrics.map((metric) => fetchSeries(metric, from, to)));
  } catch {
    if (request !== state.request) return;
    box.dataset.state = "error";
    caption(texts.failed_load || "");
    return;
  }
  if (request !== state.request) return; // a newer choice is loading
  const [data] = loaded;
  box.dataset.series = metrics.join(",");
  box.dataset.shownWindow = state.window;
  box.dataset.resolution = data.resolution;
  box.dataset.points = String(data.times.length);
  box.dataset.marked = [...new Set(loaded.flatMap(markedStatuses))].join(",");
  if (loaded.every((one) => one.times.length === 0)) {
    plot?.destroy();
    plot = null;
    box.replaceChildren();
    box.dataset.state = "empty";
    caption(texts.empty || "");
    return;
  }
  draw(loaded, from, to);
  box.dataset.state = "ready";
  caption([countText(data.times.length), resolutionText(data), ...marksText(loaded)].join(" · "));
}

function localInputValue(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

function chooseWindow(name) {
  state.window = name;
  for (const button of card.querySelectorAll("button[data-window]")) {
    button.setAttribute("aria-pressed", String(button.dataset.window === name));
  }
  const custom = card.querySelector("[data-chart-custom]");
  custom.hidden = name !== "custom";
  if (name === "custom") {
    const [from, to] = state.from ? [state.from, state.to] : [new Date(Date.now() - 3 * 24 * HOUR), new Date()];
    custom.elements.from.value = localInputValue(from);
    custom.elements.to.value = localInputValue(to);
    return; // drawn once the range is confirmed
  }
  load();
}

function setUp() {
  if (!box || !card) return;
  card.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-window]");
    if (button) chooseWindow(button.dataset.window);
  });
  card.querySelector("[data-chart-metric]").addEventListener("change", load);
  card.querySelector("[data-chart-custom]").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const from = new Date(form.elements.from.value);
    const to = new Date(form.elements.to.value);
    if (!(from < to)) {
      form.elements.to.setCustomValidity(texts.order || "from < to");
      form.reportValidity();
      form.elements.to.setCustomValidity("");
      return;
    }
    state.from = from;
    state.to = to;
    load();
  });
  // Keep the chart as wide as its card, on phones turning sideways too.
  new ResizeObserver(() => {
    if (plot && box.clientWidth) plot.setSize({ width: box.clientWidth, height: box.clientWidth < 500 ? 220 : 300 });
  }).observe(box);
  load();
}

setUp();
