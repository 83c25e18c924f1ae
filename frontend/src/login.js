// The login page: password step, then one second factor, all through the JSON login API.
import { getAssertion, supported as webauthnSupported } from "./lib/webauthn.js";

const { api } = window.leitstand;
const card = document.getElementById("login");
const errorBox = document.getElementById("login-error");
const messages = JSON.parse(document.getElementById("login-messages").textContent);
const nextUrl = card.dataset.next || "/";

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

function problemText(error, step) {
  const problem = error.problem || {};
  const kind = (problem.type || "").split("/").pop();
  if (problem.status === 422 || error.status === 422) return messages[`invalid-${step}`];
  return messages[kind] || problem.detail || messages.failed;
}

async function submitStep(form, step, call) {
  const button = form.querySelector("button[type=submit]");
  showError("");
  if (button) button.disabled = true;
  try {
    return await call();
  } catch (error) {
    showError(problemText(error, step));
    (form.querySelector("[data-focus-on-error]") || form.querySelector("input"))?.select?.();
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}

function finish(result) {
  window.location.assign(result.enrolment_required ? "/account?enrol=1" : nextUrl);
}

// --- Step 1: e-mail and password ---------------------------------------------------

const passwordForm = document.getElementById("password-step");
passwordForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { email: passwordForm.email.value.trim(), password: passwordForm.password.value };
  const result = await submitStep(passwordForm, "password", () => api("POST", "/api/v1/auth/login", body, { quiet: true }));
  if (!result) return;
  // The pending login's second-factor steps need its CSRF token.
  document.querySelector('meta[name="csrf-token"]').content = result.csrf_token;
  if (result.second_factor_required) showSecondFactor(result.methods);
  else finish(result);
});

// --- Step 2: the second factor -----------------------------------------------------------

const secondStep = document.getElementById("second-step");
const methodButtons = [...secondStep.querySelectorAll("[data-method]")];
const methodPanels = [...secondStep.querySelectorAll("[data-method-panel]")];
// A recovery code stands in for a lost factor: offered as a link below the factors, not as one of them.
const recoveryChoice = document.getElementById("recovery-code-choice");

function chooseMethod(method) {
  for (const button of methodButtons) button.setAttribute("aria-pressed", String(button.dataset.method === method));
  for (const panel of methodPanels) panel.hidden = panel.dataset.methodPanel !== method;
  showError("");
  secondStep.querySelector(`[data-method-panel="${method}"] input`)?.focus();
}

function showSecondFactor(methods) {
  // Offer the methods the account has, the most convenient first.
  const order = ["webauthn", "totp", "yubico_otp"].filter((method) => methods.includes(method));
  for (const button of methodButtons) button.hidden = !order.includes(button.dataset.method);
  // With a recovery code on offer, even one factor keeps its tab: the way back from the code's form.
  recoveryChoice.hidden = !methods.includes("recovery_code");
  secondStep.querySelector(".method-tabs").hidden = order.length < 2 && recoveryChoice.hidden;
  passwordForm.hidden = true;
  secondStep.hidden = false;
  chooseMethod(order.includes("webauthn") && !webauthnSupported() ? order.find((m) => m !== "webauthn") || order[0] : order[0]);
}

for (const button of methodButtons) button.addEventListener("click", () => chooseMethod(button.dataset.method));
document.getElementById("use-recovery-code").addEventListener("click", (event) => {
  event.preventDefault();
  chooseMethod("recovery_code");
});

const recoveryForm = document.getElementById("recovery-code-form");
recoveryForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = recoveryForm.code.value.trim(); // the API forgives case, spaces and dashes
  const result = await submitStep(recoveryForm, "recovery_code", () =>
    api("POST", "/api/v1/auth/login/recovery-code", { code }, { quiet: true }),
  );
  if (result) finish(result);
});

const totpForm = document.getElementById("totp-form");
totpForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = totpForm.code.value.replace(/\s+/g, "");
  const result = await submitStep(totpForm, "totp", () => api("POST", "/api/v1/auth/login/totp", { code }, { quiet: true }));
  if (result) finish(result);
});

const yubicoForm = document.getElementById("yubico-form");
yubicoForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const otp = yubicoForm.otp.value.trim();
  const result = await submitStep(yubicoForm, "yubico_otp", () =>
    api("POST", "/api/v1/auth/login/yubico-otp", { otp }, { quiet: true }),
  );
  if (result) finish(result);
});

const webauthnForm = document.getElementById("webauthn-form");
webauthnForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!webauthnSupported()) {
    showError(messages["webauthn-unsupported"]);
    return;
  }
  const result = await submitStep(webauthnForm, "webauthn", async () => {
    const { options, state } = await api("POST", "/api/v1/auth/login/webauthn/options", undefined, { quiet: true });
    let credential;
    try {
      credential = await getAssertion(options);
    } catch (error) {
      throw { problem: { detail: messages["webauthn-cancelled"] } };
    }
    return api("POST", "/api/v1/auth/login/webauthn", { credential, state }, { quiet: true });
  });
  if (result) finish(result);
});

passwordForm.email.focus();
