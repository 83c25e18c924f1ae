// Notification settings: Web Push on this browser, muting sites, the webhook secret shown once.
const { api, toast } = window.leitstand;

const state = document.getElementById("push-state");
const subscribeButton = document.getElementById("push-subscribe");
const unsubscribeButton = document.getElementById("push-unsubscribe");

function applicationServerKey(base64url) {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (character) => character.charCodeAt(0));
}

async function registration() {
  return navigator.serviceWorker.ready;
}

function show(subscribed) {
  const denied = Notification.permission === "denied";
  state.textContent = denied ? state.dataset.denied : subscribed ? state.dataset.on : state.dataset.off;
  subscribeButton.hidden = subscribed || denied;
  unsubscribeButton.hidden = !subscribed;
}

async function register(subscription) {
  await api("POST", "/api/v1/me/push-subscriptions", { ...subscription.toJSON(), user_agent: navigator.userAgent.slice(0, 300) });
}

async function subscribe() {
  if ((await Notification.requestPermission()) !== "granted") return show(false);
  const { public_key: key } = await api("GET", "/api/v1/notifications/vapid-public-key");
  const manager = (await registration()).pushManager;
  let subscription = await manager.subscribe({ userVisibleOnly: true, applicationServerKey: applicationServerKey(key) });
  try {
    await register(subscription);
  } catch (error) {
    // Another user registered this browser: a fresh subscription gets a new endpoint of our own.
    if (error.problem?.status !== 409) throw error;
    await subscription.unsubscribe();
    subscription = await manager.subscribe({ userVisibleOnly: true, applicationServerKey: applicationServerKey(key) });
    await register(subscription);
  }
  show(true);
}

async function unsubscribe() {
  const subscription = await (await registration()).pushManager.getSubscription();
  if (subscription) {
    await api("DELETE", `/api/v1/me/push-subscriptions?endpoint=${encodeURIComponent(subscription.endpoint)}`).catch(() => {});
    await subscription.unsubscribe();
  }
  show(false);
}

async function start() {
  if (!state) return;
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !window.isSecureContext) {
    state.textContent = state.dataset.unsupported;
    return;
  }
  subscribeButton.addEventListener("click", () => subscribe().catch((error) => toast(error.message, "error")));
  unsubscribeButton.addEventListener("click", () => unsubscribe().catch((error) => toast(error.message, "error")));
  const subscription = await (await registration()).pushManager.getSubscription();
  show(Boolean(subscription));
}

document.getElementById("mute-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const site = event.target.elements.site_id.value;
  await api("PUT", `/api/v1/me/site-mutes/${encodeURIComponent(site)}`);
  window.location.reload();
});

document.getElementById("webhook-form")?.addEventListener("leitstand:done", (event) => {
  const note = document.getElementById("webhook-secret");
  note.textContent = `${note.dataset.label} ${event.detail.secret}`;
  note.hidden = false;
  event.target.reset();
});

start();
