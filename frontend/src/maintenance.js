// The inspection book: a new entry is saved as JSON through the API, then each chosen
// file is uploaded to the entry as multipart form data (the API checks type and size).
const { leitstand } = window;

const texts = (() => {
  try {
    return JSON.parse(document.getElementById("maintenance-texts")?.textContent || "{}");
  } catch {
    return {};
  }
})();
const fill = (text, values) => text.replace(/%\((\w+)\)s/g, (_, name) => values[name] ?? "");
const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

function entryBody(form) {
  const data = new FormData(form);
  const body = {
    performed_on: data.get("performed_on"),
    technician_name: (data.get("technician_name") || "").trim() || undefined,
    signature_name: (data.get("signature_name") || "").trim(),
    findings: data.get("findings") || "",
    completed_plan_ids: data.getAll("completed_plan_ids").map(Number),
    checklist: [],
  };
  if (data.get("next_due_on")) body.next_due_on = data.get("next_due_on");
  if (data.get("counter_reading")) body.counter_reading = Number(data.get("counter_reading"));
  form.querySelectorAll("tr.check-item").forEach((row, index) => {
    const result = data.get(`check-${index + 1}`);
    if (result) {
      body.checklist.push({ item: row.dataset.item, result, note: data.get(`note-${index + 1}`) || "" });
    }
  });
  return body;
}

async function upload(entryId, file) {
  const data = new FormData();
  data.append("file", file, file.name);
  const response = await fetch(`/api/v1/maintenance/entries/${entryId}/attachments`, {
    method: "POST",
    body: data,
    credentials: "same-origin",
    headers: { "x-csrf-token": csrfToken(), accept: "application/json, application/problem+json" },
  });
  if (!response.ok) {
    let reason = response.statusText;
    try {
      reason = (await response.json()).detail || reason;
    } catch {
      /* not JSON: keep the status text */
    }
    throw new Error(reason);
  }
  return response.json();
}

const form = document.getElementById("inspection-form");
if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const entry = await leitstand.api("POST", `/api/v1/maintenance/devices/${form.dataset.deviceId}/entries`, entryBody(form));
      const files = [...(form.querySelector('input[type="file"]')?.files || [])];
      let failed = false;
      for (const file of files) {
        try {
          await upload(entry.id, file);
        } catch (error) {
          failed = true;
          leitstand.toast(fill(texts.upload_failed || "%(name)s: %(reason)s", { name: file.name, reason: error.message }), "error");
        }
      }
      leitstand.toast(texts.saved || "Saved", "ok");
      if (!failed) window.location.reload();
      else button.disabled = false;
    } catch {
      button.disabled = false; // leitstand.api has shown the problem
    }
  });
}
