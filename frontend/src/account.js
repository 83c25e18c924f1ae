// The account page: what data-api forms cannot do alone (language cookie, password repeat,
// registering a security key, showing a new API token or recovery codes once, confirming it is you).
import { createCredential, getAssertion, supported as webauthnSupported } from "./lib/webauthn.js";

const { api, toast, problemKind, setReauthenticator } = window.leitstand;
const messages = JSON.parse(document.getElementById("account-messages").textContent);

// Re-authentication: the API refuses changes of the password and second factors with
// reauthentication-required unless the session logged in or confirmed the user recently. The
// dialog asks for the password and, if the account has one, a second factor (the problem's
// `methods`); app.js then repeats the refused request. Confirming renews the session's CSRF token.
const reauthDialog = document.getElementById("reauth-dialog");
const reauthForm = document.getElementById("reauth-form");
const reauthError = document.getElementById("reauth-error");
const codeField = document.getElementById("reauth-code-field");
const webauthnField = document.getElementById("reauth-webauthn-field");

function showReauthError(error) {
  const kind = problemKind(error?.problem);
  reauthError.textContent = error ? messages[kind] || error.problem?.detail || error.message : "";
  reauthError.hidden = !error;
}

// The body of POST /me/reauthenticate: a 6-digit code is the authenticator app's, anything longer a YubiKey OTP.
function reauthBody(extra = {}) {
  const body = { password: reauthForm.password.value, ...extra };
  const code = reauthForm.code.value.replace(/\s+/g, "");
  if (code && !extra.webauthn) body[/^\d{6}$/.test(code) ? "totp_code" : "yubico_otp"] = code;
  return body;
}

async function sendReauthentication(body) {
  const result = await api("POST", "/api/v1/me/reauthenticate", body, { quiet: true });
  document.querySelector('meta[name="csrf-token"]').content = result.csrf_token;
}

function confirmIdentity(problem) {
  const methods = problem.methods || [];
  const codes = methods.filter((method) => method === "totp" || method === "yubico_otp");
  codeField.hidden = codes.length === 0;
  reauthForm.code.required = codes.length > 0 && !methods.includes("webauthn");
  document.getElementById("reauth-code-label").textContent = messages[codes.length > 1 ? "code-both" : `code-${codes[0]}`] || "";
  webauthnField.hidden = !(methods.includes("webauthn") && webauthnSupported());
  reauthForm.reset();
  showReauthError(null);
  return new Promise((resolve) => {
    const attempt = async (extra) => {
      try {
        await sendReauthentication(reauthBody(await extra()));
      } catch (error) {
        showReauthError(error);
        reauthForm.password.select();
        return;
      }
      finish(true);
    };
    const onSubmit = (event) => {
      if (event.submitter?.value === "cancel") return; // method="dialog" closes it
      event.preventDefault();
      attempt(async () => ({}));
    };
    const onSecurityKey = () =>
      attempt(async () => {
        const { options, state } = await api("POST", "/api/v1/me/reauthenticate/webauthn-options", undefined, { quiet: true });
        try {
          return { webauthn: { credential: await getAssertion(options), state } };
        } catch {
          throw { problem: { detail: messages["webauthn-cancelled"] } };
        }
      });
    const onClose = () => finish(false);
    function finish(confirmed) {
      reauthForm.removeEventListener("submit", onSubmit);
      document.getElementById("reauth-webauthn").removeEventListener("click", onSecurityKey);
      reauthDialog.removeEventListener("close", onClose);
      if (reauthDialog.open) reauthDialog.close();
      reauthForm.reset();
      resolve(confirmed);
    }
    reauthForm.addEventListener("submit", onSubmit);
    document.getElementById("reauth-webauthn").addEventListener("click", onSecurityKey);
    reauthDialog.addEventListener("close", onClose);
    reauthDialog.showModal();
    reauthForm.password.focus();
  });
}
setReauthenticator(confirmIdentity);

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

// Recovery codes: the new set is in the answer only once; the page shows it until it is left.
const recoveryButton = document.getElementById("recovery-codes-create");
if (recoveryButton) {
  const list = document.getElementById("new-recovery-codes-list");
  recoveryButton.addEventListener("leitstand:done", (event) => {
    const { codes, remaining } = event.detail;
    list.replaceChildren(...codes.map((code) => Object.assign(document.createElement("li"), { textContent: code })));
    document.getElementById("new-recovery-codes").hidden = false;
    const left = document.getElementById("recovery-codes-left");
    left.textContent = messages["recovery-codes-left"].replace("%(num)s", remaining);
    left.classList.replace("muted", "ok");
    // Another set made from here replaces this one: ask first, as the page does once a set exists.
    recoveryButton.dataset.confirm = messages["recovery-codes-replace"];
    recoveryButton.textContent = messages["recovery-codes-create-new"];
  });
  document.getElementById("copy-recovery-codes").addEventListener("click", async () => {
    const codes = [...list.children].map((item) => item.textContent).join("\n");
    try {
      await navigator.clipboard.writeText(codes);
      toast(messages["recovery-codes-copied"], "ok");
    } catch {
      window.getSelection().selectAllChildren(list); // no clipboard (an insecure origin): select them to copy by hand
    }
  });
}
