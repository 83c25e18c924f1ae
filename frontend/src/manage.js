// Management pages: the few forms that need more than one `data-api` call or a body
// a plain form cannot express. Everything else is a `data-api` form handled by app.js.
//
// - invite:  create the user, then (optionally) grant the initial role on the chosen scope.
// - grant:   show the target select of the chosen scope kind, and only roles grantable there.
// - share:   the device to share is part of the API path.
// - token:   the ticked permissions become a list; the new token is shown once, with copy.
// - [data-autosubmit] fields submit their form on change (the auto-renew switch);
//   a refused change flips the switch back.

const { api, toast, t, formBody } = window.leitstand;

// --- Invite a colleague ---------------------------------------------------------

function chosenTenantPath(form) {
  return form.elements.tenant_id.selectedOptions[0]?.dataset.path || "";
}

// Offer only sites that belong to the organisation the colleague joins (or below it).
function filterInvitationScopes(form) {
  const scope = form.elements.scope;
  if (!scope) return;
  const tenantPath = chosenTenantPath(form);
  for (const option of scope.options) {
    if (option.dataset.path) option.hidden = !option.dataset.path.startsWith(tenantPath);
  }
  if (scope.selectedOptions[0]?.hidden) scope.value = "tenant";
}

async function invite(form, submitter) {
  const role = form.elements.role?.value || "";
  const body = {
    email: form.elements.email.value.trim(),
    display_name: form.elements.display_name.value.trim(),
    language: form.elements.language.value,
    tenant_id: Number(form.elements.tenant_id.value),
  };
  submitter && (submitter.disabled = true);
  try {
    const user = await api("POST", "/api/v1/users", body);
    if (role) {
      const [kind, siteId] = form.elements.scope.value.split(":");
      const grant = { user_id: user.id, role, scope_kind: kind };
      if (kind === "site") grant.site_id = Number(siteId);
      else grant.tenant_id = user.tenant_id;
      await api("POST", "/api/v1/role-grants", grant);
    }
    toast(user.invitation_sent ? form.dataset.sent : form.dataset.notSent, user.invitation_sent ? "ok" : "error");
    setTimeout(() => window.location.reload(), 600);
  } catch {
    // app.js has shown the problem as a toast; the form keeps its values to correct them.
  } finally {
    submitter && (submitter.disabled = false);
  }
}

// --- Grant a role ------------------------------------------------------------------

function showScope(form) {
  const kind = form.elements.scope_kind.value;
  for (const row of form.querySelectorAll("[data-target]")) {
    const active = row.dataset.target === kind;
    row.hidden = !active;
    row.querySelector("select").disabled = !active;
  }
  const roles = form.elements.role;
  for (const option of roles.options) {
    option.hidden = option.disabled = !option.dataset.scopes.split(" ").includes(kind);
  }
  if (roles.selectedOptions[0]?.disabled) {
    const first = [...roles.options].find((option) => !option.disabled);
    roles.value = first ? first.value : "";
  }
}

// --- Share a device with an end customer -----------------------------------------------

async function share(form, submitter) {
  const deviceId = form.elements.device_id.value;
  submitter && (submitter.disabled = true);
  try {
    await api("POST", `/api/v1/devices/${encodeURIComponent(deviceId)}/shares`, { tenant_id: Number(form.dataset.tenantId) });
    window.location.reload();
  } catch {
    /* shown by app.js */
  } finally {
    submitter && (submitter.disabled = false);
  }
}

// --- API tokens ---------------------------------------------------------------------------

async function createToken(form, submitter) {
  const body = formBody(form); // the scope checkboxes carry data-omit; they are collected here
  body.scopes = [...form.querySelectorAll('input[name="scopes"]:checked')].map((box) => box.value);
  if (body.scopes.length === 0) {
    toast(form.dataset.noScopes, "error");
    return;
  }
  // "No expiry" is an explicit null; an omitted field would mean the API's default of one year.
  body.expires_in_days = body.expires_in_days === undefined ? null : Number(body.expires_in_days);
  submitter && (submitter.disabled = true);
  try {
    const created = await api("POST", "/api/v1/me/tokens", body);
    const panel = document.getElementById("new-token");
    panel.querySelector("#new-token-value").value = created.token;
    panel.hidden = false;
    form.reset();
    form.closest("details")?.removeAttribute("open");
    htmx.trigger("#tokens", "refresh");
    panel.scrollIntoView({ block: "nearest" });
  } catch {
    /* shown by app.js */
  } finally {
    submitter && (submitter.disabled = false);
  }
}

async function copyFrom(button) {
  const field = document.querySelector(button.dataset.copy);
  if (!field) return;
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    // Without clipboard access (plain http): select it, so Ctrl+C does the rest.
    field.select();
    document.execCommand?.("copy");
  }
  toast(button.dataset.copied || t("Copied"), "ok");
}

// --- Wiring --------------------------------------------------------------------------------

const CUSTOM_SUBMIT = { invite, share, token: createToken };

document.addEventListener(
  "submit",
  (event) => {
    const form = event.target;
    const handler = form instanceof HTMLFormElement && CUSTOM_SUBMIT[form.dataset.manage];
    if (!handler) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    handler(form, event.submitter);
  },
  true, // before app.js, which would otherwise take a form with data-api
);

document.addEventListener("change", (event) => {
  const field = event.target;
  const form = field.form;
  if (!form) return;
  if (form.dataset.manage === "invite" && field.name === "tenant_id") filterInvitationScopes(form);
  if (form.dataset.manage === "grant" && field.name === "scope_kind") showScope(form);
});

document.addEventListener("leitstand:failed", (event) => {
  // A refused switch must not keep showing the state the server did not accept.
  for (const box of event.target.querySelectorAll?.("input[type=checkbox][data-autosubmit]") || []) {
    box.checked = !box.checked;
  }
});

document.addEventListener("click", (event) => {
  const button = event.target.closest?.("button[data-copy]");
  if (button) copyFrom(button);
});

for (const form of document.querySelectorAll('form[data-manage="invite"]')) filterInvitationScopes(form);
for (const form of document.querySelectorAll('form[data-manage="grant"]')) showScope(form);
