// The alarm-rule builder (alarms/rules.html): the form works as a plain post; this adds
// - the metric list (and devices) narrowed to the chosen device type, the unit beside the threshold,
// - a preview: the chosen metric's last 7 days on one device in scope, with the threshold line and
//   the moments the rule would have fired (computed by the server: /alarms/rules/preview).
import uPlot from "uplot";

const form = document.querySelector("form.rule-builder");
const preview = document.querySelector("[data-rule-preview]");
const texts = JSON.parse(document.getElementById("rule-builder-texts")?.textContent || "{}");
const DEBOUNCE_MS = 300;
let plot = null;
let request = 0;
let timer = null;

const field = (selector) => form.querySelector(selector);

function cssColour(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function chosenType() {
  return field("[data-builder-type]").value;
}

// Show only the chosen type's metrics and devices; a choice of another type is dropped.
function narrowToType() {
  const type = chosenType();
  const metric = field("[data-builder-metric]");
  for (const group of metric.querySelectorAll("optgroup")) group.hidden = Boolean(type) && group.dataset.type !== type;
  for (const option of metric.querySelectorAll("option[data-type]")) {
    option.hidden = Boolean(type) && option.dataset.type !== type;
    if (option.hidden && option.selected) metric.value = "";
  }
  if (!metric.value) {
    const first = [...metric.querySelectorAll("option[data-type]")].find((option) => !option.hidden);
    if (first && type) metric.value = first.value;
  }
  for (const option of field("[data-builder-devices]").options) {
    option.hidden = Boolean(type) && option.dataset.type !== type;
    if (option.hidden) option.selected = false;
  }
  showUnit();
}

function showUnit() {
  const metric = field("[data-builder-metric]");
  field("[data-builder-unit]").textContent = metric.options[metric.selectedIndex]?.dataset.unit || "";
}

// Devices the rule would watch: the chosen ones, else those at the chosen sites, else all of the type.
function devicesInScope() {
  const type = chosenType();
  const ofType = [...field("[data-builder-devices]").options].filter((option) => option.dataset.type === type);
  const chosen = ofType.filter((option) => option.selected);
  if (chosen.length) return chosen;
  const sites = [...field("[data-builder-sites]").selectedOptions].map((option) => option.dataset.path).filter(Boolean);
  if (sites.length) return ofType.filter((option) => sites.some((path) => option.dataset.path.startsWith(path)));
  return ofType;
}

function offerPreviewDevices() {
  const select = preview.querySelector("[data-preview-device]");
  const previous = select.value;
  const options = devicesInScope().map((option) => new Option(option.textContent, option.value));
  select.replaceChildren(...options);
  if (options.some((option) => option.value === previous)) select.value = previous;
}

function say(element, text) {
  element.textContent = text;
  element.hidden = !text;
}

function timeFormat() {
  const language = document.documentElement.lang || undefined;
  const tick = new Intl.DateTimeFormat(language, { day: "2-digit", month: "2-digit", hourCycle: "h23" });
  const full = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short", hourCycle: "h23" });
  return { tick: (seconds) => tick.format(seconds * 1000), full: (seconds) => full.format(seconds * 1000) };
}

function numberText(value) {
  return new Intl.NumberFormat(document.documentElement.lang || undefined, { maximumFractionDigits: 2 }).format(value);
}

// One x axis for the readings and the firing moments: uPlot wants all series on the same times.
function columns(data) {
  const firings = new Map(data.fired.map((fired) => [fired.time, fired.value]));
  const readings = new Map(data.times.map((time, index) => [time, data.values[index]]));
  const times = [...new Set([...data.times, ...firings.keys()])].sort((a, b) => a - b);
  return [
    times,
    times.map((time) => (readings.has(time) ? readings.get(time) : null)),
    times.map(() => data.threshold),
    times.map((time) => (firings.has(time) ? firings.get(time) : null)),
  ];
}

function draw(box, data) {
  const unit = data.unit ? ` ${data.unit}` : "";
  const accent = cssColour("--accent", "#2563eb");
  const bad = cssColour("--bad", "#c0392b");
  const muted = cssColour("--muted", "#687083");
  const grid = { stroke: cssColour("--border", "#e2e5ea"), width: 1 };
  const axis = { stroke: muted, grid, ticks: grid };
  const format = (u, value) => (value == null ? "–" : `${numberText(value)}${unit}`);
  const times = timeFormat();
  const from = Date.parse(data.from) / 1000;
  const to = Date.parse(data.to) / 1000;
  const options = {
    width: Math.max(280, box.clientWidth),
    height: box.clientWidth < 500 ? 220 : 240,
    scales: { x: { time: true, range: () => [from, to] } },
    axes: [
      { ...axis, values: (u, ticks) => ticks.map(times.tick) },
      { ...axis, size: 60, values: (u, ticks) => ticks.map((tick) => `${tick}${unit}`) },
    ],
    series: [
      { label: texts.time || "Time", value: (u, value) => (value == null ? "–" : times.full(value)) },
      { label: data.label, stroke: accent, width: 2, spanGaps: true, value: format },
      { label: texts.threshold || "Threshold", stroke: bad, width: 1, dash: [6, 4], value: format, points: { show: false } },
      { label: texts.fired || "Fired", stroke: bad, width: 0, fill: bad, value: format,
        paths: () => null, points: { show: true, size: 10, stroke: bad, fill: bad } },
    ],
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
  };
  plot?.destroy();
  box.replaceChildren();
  plot = new uPlot(options, columns(data), box);
}

// Nothing of an earlier preview may stay beside a new state.
function clearPreview(box) {
  plot?.destroy();
  plot = null;
  box.replaceChildren();
  say(preview.querySelector("[data-preview-summary]"), "");
  preview.querySelector("[data-preview-firings]").replaceChildren();
}

function showFirings(data) {
  say(preview.querySelector("[data-preview-summary]"), data.summary);
  const list = preview.querySelector("[data-preview-firings]");
  list.replaceChildren(...data.fired.map((fired) => {
    const item = document.createElement("li");
    item.textContent = `${fired.local} · ${numberText(fired.value)}${data.unit ? ` ${data.unit}` : ""}`;
    item.dataset.firedAt = fired.at;
    return item;
  }));
}

async function loadPreview() {
  const box = preview.querySelector("[data-preview-chart]");
  const caption = preview.querySelector("[data-preview-caption]");
  const device = preview.querySelector("[data-preview-device]").value;
  const metric = field("[data-builder-metric]").value;
  const threshold = field("[data-builder-threshold]").value.trim();
  const operator = field("[data-builder-operator]").value;
  preview.hidden = !(chosenType() && metric && threshold);
  if (preview.hidden) return;
  const mine = ++request;
  if (!device) {
    clearPreview(box);
    preview.dataset.state = "empty";
    say(caption, texts.no_device || "");
    return;
  }
  preview.dataset.state = "loading";
  say(caption, texts.loading || "…");
  let data;
  try {
    const query = new URLSearchParams({ device, metric, operator, threshold });
    const response = await fetch(`/alarms/rules/preview?${query}`, { headers: { accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    data = await response.json();
  } catch {
    if (mine !== request) return;
    clearPreview(box);
    preview.dataset.state = "error";
    say(caption, texts.failed || "");
    return;
  }
  if (mine !== request) return; // a newer choice is loading
  say(caption, "");
  preview.dataset.fired = String(data.count);
  showFirings(data);
  if (data.times.length === 0 && data.fired.length === 0) {
    clearPreview(box);
    say(caption, texts.empty || "");
    preview.dataset.state = "empty";
    return;
  }
  draw(box, data);
  preview.dataset.state = "ready";
}

function schedulePreview() {
  clearTimeout(timer);
  timer = setTimeout(loadPreview, DEBOUNCE_MS);
}

function setUp() {
  if (!form || !preview) return;
  field("[data-builder-type]").addEventListener("change", () => { narrowToType(); offerPreviewDevices(); schedulePreview(); });
  field("[data-builder-metric]").addEventListener("change", () => { showUnit(); schedulePreview(); });
  for (const selector of ["[data-builder-sites]", "[data-builder-devices]"]) {
    field(selector).addEventListener("change", () => { offerPreviewDevices(); schedulePreview(); });
  }
  field("[data-builder-operator]").addEventListener("change", schedulePreview);
  field("[data-builder-threshold]").addEventListener("input", schedulePreview);
  preview.querySelector("[data-preview-device]").addEventListener("change", loadPreview);
  new ResizeObserver(() => {
    const box = preview.querySelector("[data-preview-chart]");
    if (plot && box.clientWidth) plot.setSize({ width: box.clientWidth, height: box.clientWidth < 500 ? 220 : 240 });
  }).observe(preview);
  narrowToType();
  offerPreviewDevices();
  loadPreview();
}

setUp();
