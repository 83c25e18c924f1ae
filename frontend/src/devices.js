// The device list: rows follow live updates (online dot, last seen) without reloading the table.

import { formatMoment } from "./lib/formats.js";

const table = () => document.getElementById("device-table");
const language = document.documentElement.lang || undefined;
const texts = JSON.parse(document.getElementById("devices-texts")?.textContent || "{}");

function showConnectivity(row, online) {
  const cell = row.querySelector("[data-connectivity-cell]");
  if (!cell) return;
  const dot = cell.querySelector(".dot");
  dot.className = `dot ${online ? "online" : "offline"}`;
  const text = online ? texts.online : texts.offline;
  dot.title = text;
  cell.querySelector(".visually-hidden").textContent = text;
}

function showLastSeen(row, iso) {
  const cell = row.querySelector("[data-last-seen-cell]");
  if (!cell || !iso) return;
  const time = document.createElement("time");
  time.dateTime = iso;
  time.textContent = formatMoment(new Date(iso), language, texts.time_zone);
  cell.replaceChildren(time);
}

if (table()) {
  window.leitstand.live((update) => {
    if (update.type !== "device") return;
    // The table is swapped by the live search; look the row up afresh each time.
    const row = table()?.querySelector(`tr[data-device-id="${update.device_id}"]`);
    if (!row) return;
    if (typeof update.online === "boolean") showConnectivity(row, update.online);
    showLastSeen(row, update.last_seen_at);
  });
}

// Bulk selection: "select all" ticks every row shown. It needs JS, so it stays hidden without it;
// the table is swapped by the live search, so it is wired by delegation and revealed after each swap.
function revealSelectAll() {
  document.querySelectorAll("input[data-select-all]").forEach((box) => (box.hidden = false));
}
revealSelectAll();
document.addEventListener("htmx:afterSwap", revealSelectAll);
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement)) return;
  const form = box.getAttribute("form");
  if (box.dataset.selectAll) {
    document.querySelectorAll(`input[type=checkbox][name="${box.dataset.selectAll}"][form="${form}"]`)
      .forEach((row) => (row.checked = box.checked));
  } else if (form === "device-bulk" && !box.checked) {
    const all = document.querySelector('input[data-select-all][form="device-bulk"]');
    if (all) all.checked = false;
  }
});
