// The device list: rows follow live updates (online dot, last seen) without reloading the table.

const table = () => document.getElementById("device-table");
const language = document.documentElement.lang || undefined;
const lastSeenFormat = new Intl.DateTimeFormat(language, { dateStyle: "short", timeStyle: "short", hourCycle: "h23" });
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
  time.textContent = lastSeenFormat.format(new Date(iso));
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
