// Leitstand service worker (rendered by leitstand/portal/pwa.py).
// - Precaches the app shell: the built bundles, the icons and the offline page.
// - Pages: network first; without a network the offline page answers.
// - Built assets: cache first (their URLs change with every build).
// - Never touches the API, the live stream (SSE) or anything not GET: those always go to the server.
const CACHE = {{ cache_name | tojson }};
const PRECACHE = {{ precache | tojson }};
const OFFLINE = {{ offline_path | tojson }};

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(PRECACHE))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((name) => name.startsWith("leitstand-") && name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

function bypass(request, url) {
  return (
    request.method !== "GET" ||
    url.origin !== self.location.origin ||
    url.pathname.startsWith("/api/") ||
    url.pathname === "/sw.js" ||
    (request.headers.get("accept") || "").includes("text/event-stream") ||
    request.headers.get("hx-request") === "true"
  );
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (bypass(request, url)) return; // the browser handles it as if there were no worker

  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE)));
    return;
  }
  if (url.pathname.startsWith("/static/build/")) {
    event.respondWith(
      caches.match(request).then((cached) => cached || fetch(request).then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(request, copy));
        }
        return response;
      })),
    );
  }
});

// Push notifications (leitstand.notifications): the payload is {title, body, severity, url, tag, data}.
// The tag replaces an older notice about the same alarm; critical ones stay until tapped.
self.addEventListener("push", (event) => {
  let payload = {};
  try {
    payload = event.data ? event.data.json() : {};
  } catch {
    payload = { body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(payload.title || "Leitstand", {
      body: payload.body || "",
      icon: "/static/build/icons/icon-192.png",
      tag: payload.tag || undefined,
      renotify: Boolean(payload.tag),
      requireInteraction: payload.severity === "critical",
      data: { url: payload.url ? new URL(payload.url, self.location.origin).pathname : "/" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => new URL(client.url).pathname === target);
      return open ? open.focus() : self.clients.openWindow(target);
    }),
  );
});
