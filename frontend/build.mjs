// Bundles the portal's front end into leitstand/portal/static/build/ (served at /static/build/).
//
// - Every top-level src/*.js file is an entry point: src/devices.js -> /static/build/devices.js
//   (ES module, minified; code shared between entries is split into chunks/).
// - Every src/styles/*.css file (base.css first, then by name) plus the CSS of Leaflet,
//   Leaflet.markercluster and uPlot are bundled into /static/build/app.css, so no page
//   links anything else. Leaflet's marker images land unhashed in /static/build/images/,
//   where Leaflet finds them by itself.
// - Swagger UI (npm swagger-ui-dist) and its start-up script src/apidocs/api-docs.js are copied
//   into leitstand/portal/static/apidocs/ for the API docs page (/api/docs): served by us, not
//   a CDN, and apart from the portal's bundles (not precached, not in the portal's budget).
// - The PWA icons (SVG, 192 and 512 PNG, maskable 512 PNG) are drawn here from one
//   geometry, so no binary image is kept in the repository.
// - A size report (raw and gzip) goes to stdout.
//
// `node build.mjs --watch` rebuilds on every change.
import { build, context } from "esbuild";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync, gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const srcDir = join(here, "src");
const stylesDir = join(srcDir, "styles");
const outDir = join(here, "..", "leitstand", "portal", "static", "build");
const apiDocsDir = join(here, "..", "leitstand", "portal", "static", "apidocs");
const watch = process.argv.includes("--watch");

const VENDOR_CSS = [
  "leaflet/dist/leaflet.css",
  "leaflet.markercluster/dist/MarkerCluster.css",
  "leaflet.markercluster/dist/MarkerCluster.Default.css",
  "uplot/dist/uPlot.min.css",
];

function entryScripts() {
  return readdirSync(srcDir)
    .filter((name) => name.endsWith(".js") && statSync(join(srcDir, name)).isFile())
    .sort()
    .map((name) => join(srcDir, name));
}

function stylesheetEntry() {
  const areaSheets = readdirSync(stylesDir)
    .filter((name) => name.endsWith(".css"))
    .sort((a, b) => (a === "base.css" ? -1 : b === "base.css" ? 1 : a.localeCompare(b)));
  // Vendor CSS first so the portal's own rules win on equal specificity.
  return [...VENDOR_CSS, ...areaSheets.map((name) => `./styles/${name}`)].map((path) => `@import "${path}";`).join("\n");
}

const common = {
  bundle: true,
  minify: true,
  legalComments: "none",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  logLevel: "warning",
  outdir: outDir,
};

const scriptOptions = {
  ...common,
  entryPoints: entryScripts(),
  format: "esm",
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  sourcemap: "linked",
};

const styleOptions = {
  ...common,
  stdin: { contents: stylesheetEntry(), resolveDir: srcDir, loader: "css", sourcefile: "app.css" },
  outfile: join(outDir, "app.css"),
  outdir: undefined,
  loader: { ".png": "file", ".svg": "file", ".woff2": "file" },
  assetNames: "images/[name]",
};

// --- Icons --------------------------------------------------------------------

const ACCENT = [37, 99, 235]; // --accent in styles/base.css
const LOGO = { arcRadius: 0.27, stroke: 0.075, gapDegrees: 90, needleTip: [0.634, 0.366], hub: 0.075 };

function logoSvg() {
  const s = 512;
  const r = LOGO.arcRadius * s;
  const half = (LOGO.gapDegrees / 2) * (Math.PI / 180);
  const dx = (r * Math.sin(half)).toFixed(1);
  const dy = (r * Math.cos(half)).toFixed(1);
  const c = s / 2;
  const [tx, ty] = LOGO.needleTip.map((v) => (v * s).toFixed(1));
  const w = (LOGO.stroke * s).toFixed(1);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${s} ${s}">` +
    `<rect width="${s}" height="${s}" rx="${0.22 * s}" fill="rgb(${ACCENT})"/>` +
    `<g fill="none" stroke="#fff" stroke-width="${w}" stroke-linecap="round">` +
    `<path d="M${c - dx} ${c + +dy}A${r} ${r} 0 1 1 ${c + +dx} ${c + +dy}"/>` +
    `<path d="M${c} ${c}L${tx} ${ty}"/></g>` +
    `<circle cx="${c}" cy="${c}" r="${LOGO.hub * s}" fill="#fff"/></svg>\n`
  );
}

function segmentDistance(px, py, ax, ay, bx, by) {
  const abx = bx - ax, aby = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * abx + (py - ay) * aby) / (abx * abx + aby * aby)));
  return Math.hypot(px - ax - t * abx, py - ay - t * aby);
}

// Signed distance (in logo units) to the white mark: gauge arc, needle and hub.
function markDistance(x, y) {
  const cx = x - 0.5, cy = y - 0.5;
  const half = (LOGO.gapDegrees / 2) * (Math.PI / 180);
  const angleFromDown = Math.abs(Math.atan2(cx, cy)); // 0 straight down (y grows downwards)
  const r = LOGO.arcRadius;
  let arc;
  if (angleFromDown < half) {
    const ex = r * Math.sin(half), ey = r * Math.cos(half);
    arc = Math.min(Math.hypot(cx - ex, cy - ey), Math.hypot(cx + ex, cy - ey));
  } else {
    arc = Math.abs(Math.hypot(cx, cy) - r);
  }
  const needle = segmentDistance(x, y, 0.5, 0.5, ...LOGO.needleTip);
  const hub = Math.hypot(cx, cy) - LOGO.hub;
  return Math.min(arc - LOGO.stroke / 2, needle - LOGO.stroke / 2, hub);
}

function roundedRectDistance(x, y, radius) {
  const qx = Math.abs(x - 0.5) - (0.5 - radius), qy = Math.abs(y - 0.5) - (0.5 - radius);
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - radius;
}

function drawIcon(size, maskable) {
  const pixels = Buffer.alloc(size * size * 4);
  const scale = maskable ? 0.72 : 1; // maskable: the mark stays inside the 80 % safe circle
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const x = (px + 0.5) / size, y = (py + 0.5) / size;
      const cover = (distance) => Math.max(0, Math.min(1, 0.5 - distance * size));
      const background = maskable ? 1 : cover(roundedRectDistance(x, y, 0.22));
      const mark = cover(markDistance(0.5 + (x - 0.5) / scale, 0.5 + (y - 0.5) / scale) * scale);
      const i = (py * size + px) * 4;
      for (let channel = 0; channel < 3; channel++) {
        pixels[i + channel] = Math.round(ACCENT[channel] * (1 - mark) + 255 * mark);
      }
      pixels[i + 3] = Math.round(255 * background);
    }
  }
  return encodePng(size, size, pixels);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buffer) {
  let crc = 0xffffffff;
  for (const byte of buffer) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function encodePng(width, height, rgba) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8 bit, RGBA, deflate, no filter method, no interlace
  const rows = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) rgba.copy(rows, y * (width * 4 + 1) + 1, y * width * 4, (y + 1) * width * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", deflateSync(rows, { level: 9 })),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

function writeIcons() {
  const iconDir = join(outDir, "icons");
  mkdirSync(iconDir, { recursive: true });
  writeFileSync(join(iconDir, "icon.svg"), logoSvg());
  writeFileSync(join(iconDir, "icon-192.png"), drawIcon(192, false));
  writeFileSync(join(iconDir, "icon-512.png"), drawIcon(512, false));
  writeFileSync(join(iconDir, "icon-maskable-512.png"), drawIcon(512, true));
  writeFileSync(join(iconDir, "apple-touch-icon.png"), drawIcon(180, true));
}

function copyLeafletImages() {
  // Leaflet derives its marker image folder from the CSS; keep every image it may ask for there.
  cpSync(join(here, "node_modules", "leaflet", "dist", "images"), join(outDir, "images"), { recursive: true });
}

function copyApiDocs() {
  mkdirSync(apiDocsDir, { recursive: true });
  const dist = join(here, "node_modules", "swagger-ui-dist");
  for (const name of ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"]) cpSync(join(dist, name), join(apiDocsDir, name));
  cpSync(join(srcDir, "apidocs", "api-docs.js"), join(apiDocsDir, "api-docs.js"));
}

// --- Report ---------------------------------------------------------------------

function listFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

function report() {
  const kib = (bytes) => (bytes / 1024).toFixed(1).padStart(8);
  const rows = listFiles(outDir)
    .filter((file) => /\.(js|css)$/.test(file))
    .sort()
    .map((file) => {
      const content = readFileSync(file);
      return { name: relative(outDir, file), raw: content.length, gz: gzipSync(content, { level: 9 }).length };
    });
  console.log(`${"file".padEnd(40)} ${"KiB".padStart(8)} ${"gz KiB".padStart(8)}`);
  for (const row of rows) console.log(`${row.name.padEnd(40)} ${kib(row.raw)} ${kib(row.gz)}`);
  const everyPage = rows.filter((row) => row.name === "app.js" || row.name === "app.css").reduce((sum, row) => sum + row.gz, 0);
  const total = rows.reduce((sum, row) => sum + row.gz, 0);
  console.log(`every page loads app.js + app.css: ${kib(everyPage).trim()} KiB gzip; all bundles: ${kib(total).trim()} KiB gzip`);
}

// --- Main ---------------------------------------------------------------------------

// Files are replaced in place (a running server keeps serving while it builds); leftovers
// of earlier builds, such as chunks with an old hash, are removed afterwards.
function removeLeftovers(results) {
  const keep = new Set(results.flatMap((result) => Object.keys(result.metafile.outputs)).map((file) => resolve(file)));
  for (const file of listFiles(outDir)) {
    const name = relative(outDir, file);
    if (!keep.has(file) && !name.startsWith("icons/") && !name.startsWith("images/") && name !== ".built") rmSync(file);
  }
}

mkdirSync(outDir, { recursive: true });
copyLeafletImages();
copyApiDocs();
writeIcons();
if (watch) {
  const contexts = await Promise.all([context(scriptOptions), context(styleOptions)]);
  await Promise.all(contexts.map((ctx) => ctx.watch()));
  console.log(`watching ${relative(process.cwd(), srcDir)} (new entry files need a restart)`);
} else {
  const results = await Promise.all([build({ ...scriptOptions, metafile: true }), build({ ...styleOptions, metafile: true })]);
  removeLeftovers(results);
  writeFileSync(join(outDir, ".built"), new Date().toISOString() + "\n");
  report();
}
