// The device page: live status and sending commands with their progress.
//
// - Live updates (leitstand.live) about this device re-fetch the status, events and command
//   history fragments (their containers listen for the htmx event "refresh").
// - A command is sent through the JSON API with an idempotency key, so a retry after a lost
//   answer never opens a barrier twice. Its progress (requested → queued at the network server,
//   where that happened → sent → delivered → confirmed, or failed / expired) follows live
//   updates and, as a fallback, polls the command until it is final. The states are those of
//   leitstand/commands/states.py.

const page = document.querySelector("[data-device-page]");
const texts = JSON.parse(document.getElementById("device-texts")?.textContent || "{}");
const FINAL = new Set(["confirmed", "failed", "expired"]);
// The way to a result, in order, with the time each step stamps on the command.
const PROGRESS = [
  ["requested", "requested_at"],
  ["queued", "queued_at"],
  ["sent", "sent_at"],
  ["delivered", "delivered_at"],
];
const POLL_MS = 1000;
// The scheduler marks an unanswered command expired; allow it a moment past the deadline.
const DEADLINE_GRACE_MS = 15000;

function refresh(selector) {
  const element = document.querySelector(selector);
  if (element && window.htmx) window.htmx.trigger(element, "refresh");
}

function newIdempotencyKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return "portal-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

class CommandTracker {
  constructor(deviceId, panel) {
    this.deviceId = deviceId;
    this.panel = panel;
    this.command = null;
    this.timer = null;
  }

  get url() {
    return `/api/v1/devices/${this.deviceId}/commands/${this.command.id}`;
  }

  start(command, label) {
    this.stop();
    this.command = command;
    this.panel.hidden = false;
    this.panel.querySelector("[data-progress-label]").textContent = label;
    this.show(command);
    if (!FINAL.has(command.status)) this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  // A live update named this command: fetch its new state at once.
  poke(commandId) {
    if (this.command && this.command.id === commandId && this.timer) this.poll();
  }

  async poll() {
    const tracked = this.command;
    let command;
    try {
      command = await window.leitstand.api("GET", this.url, undefined, { background: true }); // not the user's doing
    } catch {
      return; // shown as a toast by leitstand.api; the next poll tries again
    }
    if (tracked !== this.command) return; // a newer command took over meanwhile
    if (!FINAL.has(command.status) && Date.now() > Date.parse(command.expires_at) + DEADLINE_GRACE_MS) {
      command = { ...command, status: "expired", detail: command.detail || texts.no_answer };
    }
    this.command = command;
    this.show(command);
  }

  show(command) {
    const status = command.status;
    const ended = FINAL.has(status);
    // The furthest step the command got to. A later step counts the earlier ones as done even
    // where the transport did not report them (a device may answer before the hand-over is
    // stored); only the queued step is never assumed: it happens for some transports only.
    let furthest = 0;
    PROGRESS.forEach(([step, stamp], index) => {
      if (status === step || command[stamp]) furthest = index;
    });
    const queued = status === "queued" || Boolean(command.queued_at);
    PROGRESS.forEach(([step], index) => {
      const item = this.panel.querySelector(`[data-step="${step}"]`);
      if (step === "queued") item.hidden = !queued;
      item.classList.toggle("done", step === "queued" ? queued : index <= furthest);
    });
    const end = this.panel.querySelector('[data-step="final"]');
    end.textContent = (texts.end || {})[ended ? status : "confirmed"] || end.textContent;
    end.classList.toggle("done", ended);
    end.classList.toggle("failed", status === "failed" || status === "expired");
    const badge = this.panel.querySelector("[data-progress-status]");
    badge.textContent = (texts.status || {})[status] || status;
    badge.dataset.status = status;
    badge.className = "badge " + ({ confirmed: "ok", failed: "bad", expired: "bad" }[status] || "muted");
    this.panel.querySelector("[data-progress-detail]").textContent = command.detail || "";
    if (ended) {
      this.stop();
      refresh("#device-status");
      refresh("#device-commands");
    }
  }
}

async function sendCommand(deviceId, tracker, name, parameters, label, trigger) {
  const body = { name, parameters, idempotency_key: newIdempotencyKey() };
  const url = `/api/v1/devices/${deviceId}/commands`;
  trigger.setAttribute("aria-busy", "true");
  trigger.disabled = true;
  try {
    let command;
    try {
      command = await window.leitstand.api("POST", url, body, { quiet: true });
    } catch (error) {
      const lost = error.status === 0 || error.status >= 500;
      if (!lost) {
        window.leitstand.toast(error.message, "error"); // refused (license, parameters): nothing was sent
        return;
      }
      // The answer got lost on the way: the same key returns the same command, never a second one.
      command = await window.leitstand.api("POST", url, body);
    }
    tracker.start(command, label);
    refresh("#device-commands");
  } catch {
    // leitstand.api has shown the problem already
  } finally {
    trigger.removeAttribute("aria-busy");
    trigger.disabled = false;
  }
}

function parametersOf(form) {
  const parameters = {};
  for (const input of form.querySelectorAll("input[name]")) {
    const type = input.dataset.type;
    if (type === "boolean") parameters[input.name] = input.checked;
    else if (input.value === "") continue;
    else if (type === "number" || type === "integer") parameters[input.name] = Number(input.value);
    else parameters[input.name] = input.value;
  }
  return parameters;
}

// − and + beside a stepped field (a setpoint): the browser's own stepping keeps the value on
// the declared step and within min/max.
function stepField(button) {
  const input = button.closest("[data-stepper]").querySelector("input");
  const by = Number(button.dataset.stepBy);
  if (input.value === "" && input.min !== "") input.value = input.min;
  else if (by > 0) input.stepUp(by);
  else input.stepDown(-by);
  input.dispatchEvent(new Event("input", { bubbles: true }));
}

function setUp() {
  if (!page) return;
  const deviceId = page.dataset.deviceId;
  const panel = document.getElementById("command-progress");
  const tracker = panel ? new CommandTracker(deviceId, panel) : null;

  page.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-step-by]");
    if (button) stepField(button);
  });

  page.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-command]");
    if (!button || !tracker) return;
    if (button.dataset.confirm && !(await window.leitstand.confirm(button.dataset.confirm))) return;
    sendCommand(deviceId, tracker, button.dataset.command, {}, button.dataset.label, button);
  });

  page.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-command]");
    if (!form || !tracker) return;
    event.preventDefault();
    if (form.dataset.confirm && !(await window.leitstand.confirm(form.dataset.confirm))) return;
    const submit = form.querySelector("[type=submit]");
    sendCommand(deviceId, tracker, form.dataset.command, parametersOf(form), form.dataset.label, submit);
  });

  window.leitstand.live((update) => {
    if (String(update.device_id) !== deviceId) return;
    if (update.type === "device") refresh("#device-status");
    else if (update.type === "event") refresh("#device-events");
    else if (update.type === "command") {
      refresh("#device-commands");
      tracker?.poke(update.command_id);
    }
  });
}

setUp();
