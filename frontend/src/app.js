// Loaded on every portal page: htmx, the JSON API helper, toasts, confirmations,
// `data-api` forms, the shared live stream and the service worker.
// Area scripts use `window.leitstand` rather than importing this module.
import htmx from "htmx.org";
import { addRevealToggles } from "./lib/password_reveal.js";

window.htmx = htmx;
// The portal runs under a CSP without inline styles: htmx would add its indicator rules as a
// <style> element on DOMContentLoaded, so styles/base.css ships them instead.
htmx.config.includeIndicatorStyles = false;

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
// Requests no person caused (polls, refreshes after a live update) say so: they do not keep the
// session from ending when idle (leitstand.web.deps.BACKGROUND_HEADER).
const BACKGROUND_HEADER = "x-leitstand-background";

// Texts app.js shows itself; the layout renders them translated (see layout/base.html).
let messages = null;
function t(text) {
  if (messages === null) {
    try {
      messages = JSON.parse(document.getElementById("leitstand-messages")?.textContent || "{}");
    } catch {
      messages = {};
    }
  }
  return messages[text] || text;
}

// --- Toasts -----------------------------------------------------------------

function toastRegion() {
  let region = document.getElementById("toasts");
  if (!region) {
    region = document.createElement("div");
    region.id = "toasts";
    region.className = "toasts";
    region.setAttribute("aria-live", "polite");
    document.body.append(region);
  }
  return region;
}

export function toast(message, kind = "info") {
  const item = document.createElement("div");
  item.className = `toast ${kind}`;
  item.setAttribute("role", kind === "error" ? "alert" : "status");
  item.textContent = message;
  const close = () => item.remove();
  item.addEventListener("click", close);
  toastRegion().append(item);
  setTimeout(close, kind === "error" ? 9000 : 5000);
  return item;
}

// --- Confirmation dialog -----------------------------------------------------

function confirmDialog() {
  let dialog = document.getElementById("confirm-dialog");
  if (!dialog) {
    dialog = document.createElement("dialog");
    dialog.id = "confirm-dialog";
    dialog.className = "dialog";
    dialog.innerHTML =
      '<form method="dialog"><p class="dialog-message"></p><div class="actions">' +
      '<button class="btn ghost" value="cancel"></button><button class="btn primary" value="ok"></button></div></form>';
    dialog.querySelector('[value="cancel"]').textContent = t("Cancel");
    dialog.querySelector('[value="ok"]').textContent = t("OK");
    document.body.append(dialog);
  }
  return dialog;
}

export function confirm(message) {
  const dialog = confirmDialog();
  dialog.querySelector(".dialog-message").textContent = message;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    dialog.querySelector('[value="ok"]').focus();
  });
}

// --- JSON API ----------------------------------------------------------------

export class ApiError extends Error {
  constructor(problem, status) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.problem = problem;
    this.status = status;
  }
}

// A field error in the reader's language where the API gives it a code of ours (the password
// rule's password-too-short …, see layout/base.html), else the API's English message.
export function fieldErrorText(error) {
  const translated = t(error.type);
  return translated !== error.type ? translated : error.msg || error.message || "";
}

function problemMessage(problem) {
  // Validation problems list their field errors; show the first one with its field.
  const first = Array.isArray(problem.errors) ? problem.errors[0] : null;
  if (first && (first.msg || first.message)) {
    if (t(first.type) !== first.type) return fieldErrorText(first);
    const field = Array.isArray(first.loc) ? first.loc.filter((part) => part !== "body").join(".") : first.field || "";
    return field ? `${field}: ${first.msg || first.message}` : first.msg || first.message;
  }
  return problem.detail || problem.title || t("The request failed.");
}

export const problemKind = (problem) => String(problem?.type || "").split("/").pop();

// A page that can ask the user to confirm it is them (the account page) registers how: a function
// that takes the API's reauthentication-required problem and resolves true once confirmed. A
// request refused that way is then sent once more.
let reauthenticator = null;
export function setReauthenticator(confirmIdentity) {
  reauthenticator = confirmIdentity;
}

export async function api(method, path, body, { quiet = false, background = false, repeated = false } = {}) {
  const headers = { accept: "application/json, application/problem+json", "x-csrf-token": csrfToken() };
  if (background) headers[BACKGROUND_HEADER] = "1";
  const init = { method: method.toUpperCase(), headers, credentials: "same-origin" };
  if (body !== undefined && body !== null) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    const problem = { title: "network", detail: t("The server cannot be reached.") };
    if (!quiet) toast(problem.detail, "error");
    throw new ApiError(problem, 0);
  }
  const text = response.status === 204 ? "" : await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 200) };
    }
  }
  if (!response.ok) {
    const problem = data && typeof data === "object" ? data : {};
    problem.status ??= response.status;
    if (problemKind(problem) === "reauthentication-required" && reauthenticator && !repeated) {
      if (await reauthenticator(problem)) return api(method, path, body, { quiet, background, repeated: true });
      throw new ApiError(problem, response.status); // the user cancelled: nothing to tell them
    }
    problem.detail = problemMessage(problem);
    if (!quiet) toast(problem.detail, "error");
    throw new ApiError(problem, response.status);
  }
  return data;
}

// --- data-api forms and buttons ----------------------------------------------

function setPath(target, name, value) {
  // "address.city" builds nested objects, so forms can fill nested API bodies.
  const parts = name.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) node = node[part] ??= {};
  node[parts[parts.length - 1]] = value;
}

function fieldValue(field) {
  const kind = field.dataset.type || (field.type === "number" || field.type === "range" ? "number" : "");
  if (field.type === "checkbox") return field.checked;
  if (field.multiple && field.selectedOptions) {
    // The API takes ids as JSON numbers, not as the text an option's value is.
    const values = [...field.selectedOptions].map((option) => option.value);
    return kind === "number" ? values.map(Number) : values;
  }
  const raw = field.value;
  if (raw === "" && !field.required) return undefined; // empty optional fields are omitted
  if (kind === "number") return raw === "" ? undefined : Number(raw);
  if (kind === "boolean") return raw === "true";
  if (kind === "json") return JSON.parse(raw);
  if (kind === "list") return raw.split(",").map((item) => item.trim()).filter(Boolean);
  return raw;
}

export function formBody(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled || field.type === "submit" || field.type === "button" || field.type === "file") continue;
    if (field.type === "radio" && !field.checked) continue;
    if (field.dataset.omit !== undefined) continue;
    if (field.type === "checkbox" && field.hasAttribute("value")) {
      // Checkboxes with a value collect the checked values into a list: name="scopes" value="device.read".
      const list = (body[field.name] ??= []);
      if (field.checked) list.push(field.value);
      continue;
    }
    const value = fieldValue(field);
    if (value !== undefined) setPath(body, field.name, value);
  }
  return body;
}

function fillTemplate(template, data) {
  // "/devices/{id}" takes fields of the API's answer.
  return template.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(data?.[key] ?? ""));
}

async function runApiAction(element, body, submitter) {
  const [method, path] = element.dataset.api.trim().split(/\s+/, 2);
  if (element.dataset.confirm && !(await confirm(element.dataset.confirm))) return;
  const busy = submitter || element;
  busy.disabled = true;
  element.setAttribute("aria-busy", "true");
  try {
    const noBody = ["GET", "DELETE"].includes(method.toUpperCase()) && Object.keys(body).length === 0;
    const result = await api(method, path, noBody ? undefined : body);
    element.dispatchEvent(new CustomEvent("leitstand:done", { bubbles: true, detail: result }));
    if (element.dataset.success) toast(element.dataset.success, "ok");
    if (element.dataset.reset !== undefined && element.tagName === "FORM") element.reset();
    if (element.dataset.refresh) {
      document.querySelectorAll(element.dataset.refresh).forEach((target) => htmx.trigger(target, "refresh"));
    }
    if (element.dataset.redirect) window.location.assign(fillTemplate(element.dataset.redirect, result));
    else if (element.dataset.reload !== undefined) window.location.reload();
  } catch (error) {
    element.dispatchEvent(new CustomEvent("leitstand:failed", { bubbles: true, detail: error.problem || { detail: error.message } }));
    if (!(error instanceof ApiError)) throw error;
  } finally {
    busy.disabled = false;
    element.removeAttribute("aria-busy");
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.api) return;
  event.preventDefault();
  let body;
  try {
    body = formBody(form);
  } catch {
    toast(t("A field holds invalid JSON."), "error");
    return;
  }
  runApiAction(form, body, event.submitter);
});

document.addEventListener("click", (event) => {
  const button = event.target.closest?.("button[data-api], a[data-api]");
  if (!button) return; // a button with its own data-api acts alone, even inside a form
  event.preventDefault();
  runApiAction(button, button.dataset.body ? JSON.parse(button.dataset.body) : {});
});

// A field with data-autosubmit sends its form as soon as it changes (filters, switches).
// Here rather than an inline handler: the portal's CSP runs no inline script.
document.addEventListener("change", (event) => {
  if (event.target.dataset?.autosubmit !== undefined) event.target.form?.requestSubmit();
});

// A list's CSV link (layout/_lists.html) exports what its filter form selects: live filters
// change the list without a page load, so the link follows the form's fields as they change.
function followFilters(event) {
  const form = event.target.form;
  const link = form?.querySelector("[data-export-link]");
  if (!link) return;
  const fields = new URLSearchParams();
  for (const [name, value] of new FormData(form)) if (value !== "" && name !== "page" && name !== "offset") fields.append(name, value);
  const query = fields.toString();
  link.href = link.pathname + (query ? `?${query}` : "");
}
document.addEventListener("input", followFilters);
document.addEventListener("change", followFilters);

// --- Live updates ------------------------------------------------------------

const LIVE_EVENT_TYPES = ["update", "device", "command", "event", "values", "state", "alarm"];
const liveListeners = new Set();
let liveSource = null;

function dispatchLive(message) {
  let update;
  try {
    update = JSON.parse(message.data);
  } catch {
    return;
  }
  for (const listener of liveListeners) {
    try {
      listener(update);
    } catch (error) {
      console.error(error);
    }
  }
}

// One EventSource per page, shared by every subscriber; returns an unsubscribe function.
export function live(callback) {
  liveListeners.add(callback);
  if (!liveSource) {
    liveSource = new EventSource("/api/v1/live");
    liveSource.onmessage = dispatchLive;
    for (const type of LIVE_EVENT_TYPES) liveSource.addEventListener(type, dispatchLive);
  }
  return () => {
    liveListeners.delete(callback);
    if (liveListeners.size === 0 && liveSource) {
      liveSource.close();
      liveSource = null;
    }
  };
}

// --- htmx: CSRF header and error toasts ----------------------------------------

document.addEventListener("htmx:configRequest", (event) => {
  event.detail.headers["x-csrf-token"] = csrfToken();
  // Polls ("every 60s"), loads and refreshes after live updates are not the user's doing.
  if (!event.detail.triggeringEvent?.isTrusted) event.detail.headers[BACKGROUND_HEADER] = "1";
});
document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  let detail = t("The request failed.");
  try {
    detail = JSON.parse(xhr.responseText).detail || detail;
  } catch {
    /* an HTML error page: keep the generic text */
  }
  toast(detail, "error");
});
document.addEventListener("htmx:sendError", () => toast(t("The server cannot be reached."), "error"));

// --- Account menu: language and logout -----------------------------------------

async function chooseLanguage(language) {
  document.cookie = `leitstand_lang=${language}; path=/; max-age=31536000; samesite=lax`;
  if (csrfToken()) {
    try {
      await api("PATCH", "/api/v1/me", { language });
    } catch {
      return;
    }
  }
  window.location.reload();
}

async function logout() {
  try {
    await api("POST", "/api/v1/auth/logout", undefined, { quiet: true });
  } finally {
    window.location.assign("/login");
  }
}

document.addEventListener("click", (event) => {
  const languageButton = event.target.closest?.("[data-language]");
  if (languageButton) {
    event.preventDefault();
    chooseLanguage(languageButton.dataset.language);
    return;
  }
  if (event.target.closest?.("[data-logout]")) {
    event.preventDefault();
    logout();
    return;
  }
  // Close open <details class="menu"> popups when clicking elsewhere.
  for (const menu of document.querySelectorAll("details.menu[open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});

// --- The phone's bottom bar: "More" opens the entries that do not fit on it -------------------

const moreButton = document.querySelector(".tab-bar .tab-more");
const moreSheet = moreButton ? document.getElementById(moreButton.getAttribute("aria-controls")) : null;

function showMore(open) {
  moreButton.setAttribute("aria-expanded", String(open));
  moreSheet.hidden = !open;
  if (open) moreSheet.querySelector("a")?.focus();
}

if (moreSheet) {
  moreButton.addEventListener("click", () => showMore(moreSheet.hidden));
  document.addEventListener("click", (event) => {
    if (!moreSheet.hidden && !moreSheet.contains(event.target) && !moreButton.contains(event.target)) showMore(false);
  });
}

// Escape closes an open popup (the account menu, "More") and gives the focus back to its button.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of document.querySelectorAll("details.menu[open]")) {
    menu.open = false;
    menu.querySelector("summary")?.focus();
  }
  if (moreSheet && !moreSheet.hidden) {
    showMore(false);
    moreButton.focus();
  }
});

// --- Session clock: time left in the user menu, a warning before the session ends ---------------

// The server renders the seconds left; counted down here without requests. Before the end the
// server is asked again (which does not count as activity), as other tabs may have used the session.
const SESSION_WARNING_SECONDS = 5 * 60;
const sessionClock = document.getElementById("session-clock");
if (sessionClock) {
  const warning = document.getElementById("session-warning");
  let endsAt = 0;
  let checking = false;
  const secondsLeft = () => Math.max(0, Math.round((endsAt - performance.now()) / 1000));
  const setLeft = (seconds) => {
    endsAt = performance.now() + seconds * 1000;
  };
  const show = () => {
    const left = secondsLeft();
    const minutes = Math.max(1, Math.ceil(left / 60));
    sessionClock.textContent = t("Session: {minutes} min left").replace("{minutes}", minutes);
    if (warning && !warning.hidden) {
      warning.querySelector("[data-session-text]").textContent = t("Your session ends in {minutes} min without activity.").replace("{minutes}", minutes);
    }
  };
  const ask = async ({ background }) => {
    try {
      const session = await api("GET", "/api/v1/me/session", undefined, { quiet: true, background });
      setLeft(session.seconds_left);
    } catch {
      setLeft(0);
    }
  };
  const tick = async () => {
    if (checking) return;
    if (secondsLeft() <= SESSION_WARNING_SECONDS) {
      checking = true;
      await ask({ background: true });
      checking = false;
      if (secondsLeft() === 0) {
        window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
        return;
      }
      if (warning) warning.hidden = secondsLeft() > SESSION_WARNING_SECONDS;
    }
    show();
  };
  setLeft(Number(sessionClock.dataset.secondsLeft || 0));
  sessionClock.hidden = false;
  show();
  setInterval(tick, 15_000);
  warning?.querySelector("[data-session-stay]")?.addEventListener("click", async () => {
    await ask({ background: false }); // a request of the user's: the session goes on from now
    warning.hidden = secondsLeft() > SESSION_WARNING_SECONDS;
    show();
  });
}

// --- Lists as cards on phones: each cell carries its column's heading -------------------

// Below 640 px styles/base.css lays out each row of a table.data as a card and shows a cell's
// `data-label` in front of its value. The headings are copied here, so no template repeats them.
function labelTableCells(table) {
  const headings = [];
  for (const heading of table.tHead?.rows[0]?.cells ?? []) {
    for (let span = 0; span < heading.colSpan; span += 1) headings.push(heading.textContent.trim());
  }
  for (const body of table.tBodies) {
    for (const row of body.rows) {
      let column = 0;
      for (const cell of row.cells) {
        // A cell across the whole row (an empty-list note) has no one column to name.
        const label = cell.colSpan < headings.length ? headings[column] : "";
        if (label) cell.dataset.label = label;
        column += cell.colSpan;
      }
    }
  }
}

function labelTablesIn(node) {
  const table = node.closest?.("table.data");
  if (table) labelTableCells(table);
  for (const inner of node.querySelectorAll?.("table.data") ?? []) labelTableCells(inner);
}

labelTablesIn(document.documentElement);
// Rows arrive later too: htmx swaps, live updates, lists that area scripts render.
new MutationObserver((mutations) => {
  for (const mutation of mutations) {
    for (const node of mutation.addedNodes) if (node.nodeType === Node.ELEMENT_NODE) labelTablesIn(node);
  }
}).observe(document.documentElement, { childList: true, subtree: true });

// --- Service worker --------------------------------------------------------------

// The offline page (pwa/offline.html, answered by the worker without a network) tries again
// by itself once the connection is back.
if (document.querySelector("[data-reload-when-online]")) {
  window.addEventListener("online", () => window.location.reload());
}

if ("serviceWorker" in navigator && window.isSecureContext && document.documentElement.dataset.serviceWorker !== "off") {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error) => console.warn("service worker", error));
  });
}

addRevealToggles(document, { show: t("show-password"), hide: t("hide-password") });

window.leitstand = { api, toast, confirm, live, formBody, t, ApiError, fieldErrorText, problemKind, setReauthenticator };
document.dispatchEvent(new CustomEvent("leitstand:ready"));
