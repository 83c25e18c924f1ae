// The password pages without a login (leitstand/portal/password.py): asking for a reset link,
// and setting a password from a reset or invitation link, both through the JSON API.
const { api, fieldErrorText } = window.leitstand;
const errorBox = document.getElementById("password-error");
const messages = JSON.parse(document.getElementById("password-messages").textContent);

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

// The password rule lives in the API alone: a refused password is explained by its code
// (password-too-short …, translated in layout/base.html), else in the API's words.
function problemText(error, field) {
  const problem = error.problem || {};
  const kind = (problem.type || "").split("/").pop();
  const status = problem.status || error.status;
  if (status === 429) return messages["too-many-requests"];
  if (status === 422 && field === "email") return messages["invalid-email"];
  if (status === 422) {
    const fieldError = (problem.errors || []).find((item) => Array.isArray(item.loc) && item.loc[item.loc.length - 1] === field);
    return `${messages["password-refused"]} ${fieldError ? fieldErrorText(fieldError) : problem.detail}`;
  }
  return messages[kind] || problem.detail || messages.failed;
}

// Sends a form through `call`; the error it failed with, or null.
async function submit(form, field, call) {
  const button = form.querySelector("button[type=submit]");
  showError("");
  button.disabled = true;
  try {
    await call();
    return null;
  } catch (error) {
    showError(problemText(error, field));
    form.querySelector("[data-focus-on-error]")?.select();
    return error;
  } finally {
    button.disabled = false;
  }
}

// --- Asking for a reset link: the answer is the same for every address ---------------------

const requestForm = document.getElementById("reset-request-form");
if (requestForm) {
  requestForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const email = requestForm.email.value.trim();
    if (await submit(requestForm, "email", () => api("POST", "/api/v1/auth/password-reset", { email }, { quiet: true }))) return;
    requestForm.hidden = true;
    document.getElementById("reset-request-sent").hidden = false;
  });
  requestForm.email.focus();
}

// --- Setting the password from a mailed link ---------------------------------------------

const passwordForm = document.getElementById("set-password-form");
if (passwordForm) {
  const password = document.getElementById("new-password");
  const repeat = document.getElementById("repeat-password");
  const checkRepeat = () => repeat.setCustomValidity(repeat.value === password.value ? "" : repeat.dataset.mismatch);
  password.addEventListener("input", checkRepeat);
  repeat.addEventListener("input", checkRepeat);

  // The token stays in the URL and goes to our own API only, in the body.
  const token = new URLSearchParams(window.location.search).get("token") || "";
  passwordForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const failure = await submit(passwordForm, "password", () =>
      api("POST", passwordForm.dataset.endpoint, { token, password: password.value }, { quiet: true }),
    );
    if (!failure) window.location.assign(passwordForm.dataset.done);
    // Used or replaced meanwhile (another tab, a newer mail): reloaded, the page says so and offers a new link.
    else if ((failure.problem?.type || "").endsWith("/link-refused")) window.location.reload();
  });
  password.focus();
}
