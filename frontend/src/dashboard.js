// The start dashboard: keeps the KPI tiles and lists current without a reload.
//
// On a live update that can change a figure (a device going online or offline, an event),
// the whole live part is fetched again from the server (`/dashboard/tiles`, htmx event
// "refresh" on #dashboard-live), so the tiles always show the server's own counts.
// Updates come in bursts (a fleet reporting), so refreshes are debounced: after a quiet
// moment, but at least every MAX_WAIT_MS while updates keep coming.

const QUIET_MS = 300;
const MAX_WAIT_MS = 2000;

const container = document.getElementById("dashboard-live");
const knownOnline = new Map(); // device id -> last online flag seen on the stream
let timer = null;
let firstPendingAt = 0;

function refreshSoon() {
  const now = Date.now();
  if (timer === null) firstPendingAt = now;
  else clearTimeout(timer);
  const wait = Math.max(0, Math.min(QUIET_MS, firstPendingAt + MAX_WAIT_MS - now));
  timer = setTimeout(() => {
    timer = null;
    window.htmx.trigger(container, "refresh");
  }, wait);
}

function changesFigures(update) {
  if (update.type === "event" || update.type === "alarm") return true;
  if (update.type !== "device" || typeof update.online !== "boolean") return false;
  // Telemetry arrives as device updates too; only a change of the online flag moves a tile.
  const before = knownOnline.get(update.device_id);
  knownOnline.set(update.device_id, update.online);
  return before !== update.online;
}

function start() {
  if (!container || !window.leitstand) return;
  window.leitstand.live((update) => {
    if (changesFigures(update)) refreshSoon();
  });
}

// app.js (which defines window.leitstand) is a module too; both have run by DOMContentLoaded.
if (window.leitstand) start();
else document.addEventListener("DOMContentLoaded", start, { once: true });
