// Alarm pages: keep the list, one alarm's panel and a device's open alarms current without a reload.
//
// Each listens to the live stream and, on an alarm update that concerns it, asks htmx to
// re-fetch its fragment from the server (event "refresh"), so the page shows the server's state.

function refresh(element) {
  if (element && window.htmx) window.htmx.trigger(element, "refresh");
}

function start() {
  if (!window.leitstand) return;
  const table = document.getElementById("alarm-table");
  const page = document.querySelector("[data-alarm-page]");
  const panel = document.getElementById("alarm-panel");
  const deviceAlarms = document.getElementById("device-alarms");
  const devicePage = document.querySelector("[data-device-page]");
  window.leitstand.live((update) => {
    if (update.type !== "alarm") return;
    refresh(table);
    if (page && panel && String(update.alarm_id) === page.dataset.alarmId) refresh(panel);
    if (deviceAlarms && devicePage && String(update.device_id) === devicePage.dataset.deviceId) refresh(deviceAlarms);
  });
}

// app.js (which defines window.leitstand) is a module too; both have run by DOMContentLoaded.
if (window.leitstand) start();
else document.addEventListener("DOMContentLoaded", start, { once: true });
