// Onboarding: identify a device (QR label or typed), choose its site, confirm, claim it
// through the JSON API and show its credentials once.
//
// The QR label reads `LS1:<serial>:<claim secret>`. The camera is read with the browser's
// BarcodeDetector where there is one, otherwise with jsQR on video frames (loaded only then).

const root = document.querySelector("[data-onboarding]");
const texts = JSON.parse(document.getElementById("onboarding-texts")?.textContent || "{}");
const LABEL = /^LS1:([A-Za-z0-9][A-Za-z0-9._-]{2,63}):([A-Za-z0-9_-]{12,64})$/;
const SERIAL = /^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/;
const CLAIM_CODE = /^[A-Za-z0-9_-]{12,64}$/;
const SCAN_EVERY_MS = 200;

const claim = { serial_number: "", claim_secret: "", site_id: null, tenant_id: null, site: "", name: "" };
let credentials = {};

export function parseLabel(text) {
  const match = LABEL.exec((text || "").trim());
  return match ? { serial: match[1], secret: match[2] } : null;
}

function show(step) {
  for (const section of root.querySelectorAll("[data-step]")) section.hidden = section.dataset.step !== step;
  for (const marker of root.querySelectorAll("[data-step-marker]")) {
    if (marker.dataset.stepMarker === step) marker.setAttribute("aria-current", "step");
    else marker.removeAttribute("aria-current");
  }
  const heading = root.querySelector(`[data-step="${step}"] h2`);
  heading?.setAttribute("tabindex", "-1");
  heading?.focus({ preventScroll: false });
}

// --- the camera ---------------------------------------------------------------------------

const scanner = {
  stream: null,
  timer: null,

  async detector(video) {
    if ("BarcodeDetector" in window) {
      const formats = await window.BarcodeDetector.getSupportedFormats().catch(() => []);
      if (formats.includes("qr_code")) {
        const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        return async () => (await detector.detect(video))[0]?.rawValue ?? null;
      }
    }
    const { default: jsQR } = await import("jsqr");
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    return async () => {
      if (!video.videoWidth) return null;
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      context.drawImage(video, 0, 0);
      const frame = context.getImageData(0, 0, canvas.width, canvas.height);
      return jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "dontInvert" })?.data ?? null;
    };
  },

  async start() {
    const panel = root.querySelector("[data-scanner]");
    const status = root.querySelector("[data-scanner-status]");
    const video = root.querySelector("[data-scanner-video]");
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false });
    } catch {
      window.leitstand.toast(texts.no_camera, "error");
      return;
    }
    panel.hidden = false;
    root.querySelector("[data-scan-start]").hidden = true;
    video.srcObject = this.stream;
    await video.play().catch(() => {});
    const read = await this.detector(video);
    const tick = async () => {
      if (!this.stream) return;
      let text = null;
      try {
        text = await read();
      } catch {
        /* a frame that could not be read: try the next */
      }
      const label = text && parseLabel(text);
      if (label) {
        this.stop();
        window.leitstand.toast(texts.read, "ok");
        identified(label.serial, label.secret);
        return;
      }
      if (text) status.textContent = texts.not_a_label;
      this.timer = setTimeout(tick, SCAN_EVERY_MS);
    };
    tick();
  },

  stop() {
    clearTimeout(this.timer);
    this.stream?.getTracks().forEach((track) => track.stop());
    this.stream = null;
    root.querySelector("[data-scanner]").hidden = true;
    root.querySelector("[data-scan-start]").hidden = false;
  },
};

// --- the steps ------------------------------------------------------------------------------

function identified(serial, secret) {
  const form = root.querySelector("[data-identify]");
  form.elements.serial_number.value = serial;
  form.elements.claim_secret.value = secret;
  claim.serial_number = serial;
  claim.claim_secret = secret;
  show("place");
}

function checkField(input, valid, message) {
  input.setCustomValidity(valid ? "" : message);
  return valid;
}

function onIdentify(event) {
  event.preventDefault();
  const form = event.target;
  const serial = form.elements.serial_number.value.trim();
  const secret = form.elements.claim_secret.value.trim();
  const ok = checkField(form.elements.serial_number, SERIAL.test(serial), texts.serial_invalid)
    && checkField(form.elements.claim_secret, CLAIM_CODE.test(secret), texts.code_invalid);
  if (!ok) {
    form.reportValidity();
    return;
  }
  identified(serial, secret);
}

function onPlace(event) {
  event.preventDefault();
  const form = event.target;
  const option = form.elements.site_id.selectedOptions[0];
  if (!form.reportValidity() || !option?.value) return;
  claim.site_id = Number(option.value);
  claim.tenant_id = Number(option.dataset.tenantId);
  claim.site = option.textContent.trim();
  claim.name = form.elements.name.value.trim();
  root.querySelector('[data-summary="serial_number"]').textContent = claim.serial_number;
  root.querySelector('[data-summary="site"]').textContent = claim.site;
  root.querySelector('[data-summary="name"]').textContent = claim.name || texts.unnamed;
  show("confirm");
}

async function onClaim(event) {
  const button = event.target;
  const body = {
    serial_number: claim.serial_number, claim_secret: claim.claim_secret,
    tenant_id: claim.tenant_id, site_id: claim.site_id,
  };
  if (claim.name) body.name = claim.name;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  let result;
  try {
    result = await window.leitstand.api("POST", "/api/v1/devices/claim", body);
  } catch {
    return; // the problem (wrong code, claimed already) is shown as a toast; the user may go back
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
  const { device, credential, license } = result;
  credentials = {
    username: credential.username,
    secret: credential.secret,
    bearer: `${credential.username}:${credential.secret}`,
  };
  for (const [name, value] of Object.entries(credentials)) {
    root.querySelector(`[data-credential="${name}"]`).textContent = value;
  }
  root.querySelector('[data-result="name"]').textContent = device.name;
  root.querySelector('[data-result="license"]').textContent = (texts.until || "%(day)s").replace("%(day)s", license.ends_on);
  root.querySelector("[data-result-link]").href = `/devices/${device.id}`;
  // The claim code is spent; do not leave it in the form.
  root.querySelector("[data-identify]").reset();
  claim.claim_secret = "";
  show("done");
}

async function copy(name) {
  const text = credentials[name] || "";
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Without a secure context there is no clipboard API: select the text for a manual copy.
    const selection = window.getSelection();
    const range = document.createRange();
    range.selectNodeContents(root.querySelector(`[data-credential="${name}"]`));
    selection.removeAllRanges();
    selection.addRange(range);
    window.leitstand.toast(texts.copy_failed, "error");
    return;
  }
  window.leitstand.toast(texts.copied, "ok");
}

function startOver() {
  credentials = {};
  for (const code of root.querySelectorAll("[data-credential]")) code.textContent = "";
  root.querySelector("[data-place]").reset();
  Object.assign(claim, { serial_number: "", claim_secret: "", site_id: null, tenant_id: null, site: "", name: "" });
  show("identify");
}

function setUp() {
  if (!root) return;
  const cameraUsable = Boolean(navigator.mediaDevices?.getUserMedia) && window.isSecureContext;
  if (!cameraUsable) {
    root.querySelector("[data-scan-start]").hidden = true;
    root.querySelector("[data-scan-unavailable]").hidden = false;
  }
  const identify = root.querySelector("[data-identify]");
  identify.addEventListener("submit", onIdentify);
  // A pasted or keyboard-wedge-scanned label fills both fields at once.
  identify.elements.serial_number.addEventListener("input", (event) => {
    const label = parseLabel(event.target.value);
    if (label) {
      event.target.value = label.serial;
      identify.elements.claim_secret.value = label.secret;
    }
    event.target.setCustomValidity("");
  });
  identify.elements.claim_secret.addEventListener("input", (event) => event.target.setCustomValidity(""));
  root.querySelector("[data-place]").addEventListener("submit", onPlace);
  root.querySelector("[data-claim]").addEventListener("click", onClaim);
  root.querySelector("[data-again]").addEventListener("click", startOver);
  root.querySelector("[data-scan-start]").addEventListener("click", () => scanner.start());
  root.querySelector("[data-scan-stop]").addEventListener("click", () => scanner.stop());
  root.addEventListener("click", (event) => {
    const back = event.target.closest("[data-back]");
    if (back) show(back.dataset.back);
    const copyButton = event.target.closest("[data-copy]");
    if (copyButton) copy(copyButton.dataset.copy);
  });
  window.addEventListener("pagehide", () => scanner.stop());
}

setUp();
