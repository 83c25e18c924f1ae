// The sites map: one marker per site, clustered, coloured by the worst state of its devices
// (green: all online, amber: some offline, red: errors reported, grey: no devices).
//
// Markers come from /sites/map.json (only what the user may see); the tile URL and its
// attribution come from the server's settings (data attributes), so tests and offline
// installations can serve their own tiles.
import L from "leaflet";

const HEALTH_RANK = { empty: 0, ok: 1, offline: 2, problem: 3 };
const GERMANY = { center: [51.2, 10.4], zoom: 5 };

function escapeHtml(text) {
  const span = document.createElement("span");
  span.textContent = text ?? "";
  return span.innerHTML;
}

function siteIcon(health) {
  return L.divIcon({
    className: "site-marker-wrap",
    html: `<span class="site-marker health-${health}"></span>`,
    iconSize: [22, 22],
    iconAnchor: [11, 11],
    popupAnchor: [0, -10],
  });
}

// A cluster shows the worst state among its sites.
function clusterIcon(cluster) {
  const worst = cluster
    .getAllChildMarkers()
    .map((marker) => marker.options.health)
    .reduce((a, b) => (HEALTH_RANK[b] > HEALTH_RANK[a] ? b : a), "empty");
  return L.divIcon({
    className: "site-cluster-wrap",
    html: `<span class="site-cluster health-${worst}">${cluster.getChildCount()}</span>`,
    iconSize: [36, 36],
  });
}

function popupHtml(site, labels) {
  const devices = site.devices
    ? `${site.online}/${site.devices} ${escapeHtml(labels.online)}`
    : `0 ${escapeHtml(labels.devices)}`;
  return (
    `<strong>${escapeHtml(site.name)}</strong><br>` +
    (site.address ? `<span class="muted">${escapeHtml(site.address)}</span><br>` : "") +
    `${devices}<br><a href="${escapeHtml(site.url)}">${escapeHtml(labels.open)}</a>`
  );
}

// Without its tiles (no internet, a firewall, a tile server down) the map is a grey box:
// say so, once any tile failed and none has loaded, so nobody waits for it; the list works without it.
function watchTiles(tiles, element) {
  let loaded = false;
  tiles.on("tileload", () => {
    loaded = true;
  });
  tiles.on("tileerror", () => {
    if (loaded || element.dataset.tiles === "failed") return;
    element.dataset.tiles = "failed";
    const notice = document.getElementById("sites-map-notice");
    if (notice) notice.hidden = false;
  });
}

async function showMap(element) {
  // Leaflet.markercluster is a classic plugin that extends the global `L`.
  window.L = L;
  await import("leaflet.markercluster");
  const labels = { devices: element.dataset.labelDevices, online: element.dataset.labelOnline, open: element.dataset.labelOpen };
  const map = L.map(element, { scrollWheelZoom: false }).setView(GERMANY.center, GERMANY.zoom);
  const tiles = L.tileLayer(element.dataset.tileUrl, { attribution: element.dataset.tileAttribution, maxZoom: 19 }).addTo(map);
  watchTiles(tiles, element);
  const response = await fetch(element.dataset.markers, { credentials: "same-origin", headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`map markers: HTTP ${response.status}`);
  const { markers } = await response.json();
  const cluster = L.markerClusterGroup({ iconCreateFunction: clusterIcon, showCoverageOnHover: false });
  for (const site of markers) {
    const marker = L.marker([site.lat, site.lon], { icon: siteIcon(site.health), health: site.health, title: site.name });
    marker.bindPopup(popupHtml(site, labels));
    cluster.addLayer(marker);
  }
  map.addLayer(cluster);
  if (markers.length) map.fitBounds(cluster.getBounds(), { padding: [30, 30], maxZoom: 14 });
  element.dataset.markerCount = String(markers.length); // lets tests and styles know the map is ready
}

const element = document.getElementById("sites-map");
if (element) showMap(element).catch((error) => console.error(error));
