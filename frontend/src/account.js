// The account page: what data-api forms cannot do alone (language cookie, password repeat,
// registering a security key, showing a new API token once).
import { createCredential, supported as webauthnSupported } from "./lib/webauthn.js";

const { api, toast } = window.leitstand;
const messages = JSON.parse(document.getElementById("account-messages").textContent);

// Profile: a new language applies to the whole portal, and to the login page via the cookie.
const profileForm = document.getElementById("profile-form");
const initialLanguage = profileForm.language.value;
profileForm.addEventListener("leitstand:done", (event) => {
  const language = event.detail.language;
  document.cookie = `leitstand_lang=${language}; path=/; max-age=31536000; samesite=lax`;
  if (language !== initialLanguage) window.location.reload();
});

// Password: the repeat must match before the form may be sent.
const newPassword = document.getElementById("new-password");
const repeatPassword = document.getElementById("repeat-password");
function checkRepeat() {
  repeatPassword.setCustomValidity(repeatPassword.value === newPassword.value ? "" : repeatPassword.dataset.mismatch);
}
newPassword.addEventListener("input", checkRepeat);
repeatPassword.addEventListener("input", checkRepeat);

// Security keys: the browser creates the credential between two API calls.
const keyForm = document.getElementById("security-key-form");
if (!webauthnSupported()) {
  keyForm.hidden = true;
  document.getElementById("security-key-unsupported").hidden = false;
}
keyForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = keyForm.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const { options, state } = await api("POST", "/api/v1/me/webauthn/options");
    let credential;
    try {
      credential = await createCredential(options);
    } catch {
      toast(messages["webauthn-cancelled"], "error");
      return;
    }
    await api("POST", "/api/v1/me/webauthn", { name: keyForm.name.value.trim(), credential, state });
    toast(messages["security-key-added"], "ok");
    window.location.reload();
  } catch {
    /* the API's toast already told the user */
  } finally {
    button.disabled = false;
  }
});

// API tokens: the secret is in the answer only once.
const tokenForm = document.getElementById("token-form");
if (tokenForm) {
  tokenForm.addEventListener("submit", (event) => {
    if (!tokenForm.querySelector('input[name="scopes"]:checked')) {
      event.preventDefault();
      event.stopImmediatePropagation();
      toast(messages["choose-scope"], "error");
    }
  });
  tokenForm.addEventListener("leitstand:done", (event) => {
    document.getElementById("new-token-value").textContent = event.detail.token;
    document.getElementById("new-token").hidden = false;
    tokenForm.closest("details").open = false;
  });
}
