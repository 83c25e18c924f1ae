// "Show" next to every password field (OWASP ASVS 2.1.12): the user may check what they typed.
// The field is masked again before its form is sent or reset, so password managers still see a
// password field, and a reopened dialog never starts revealed.

function mask(input, button, showText) {
  input.type = "password";
  button.textContent = showText;
}

export function addRevealToggles(root, { show, hide }) {
  for (const input of root.querySelectorAll('input[type="password"]:not([data-revealable])')) {
    input.dataset.revealable = "";
    const wrapper = document.createElement("span");
    wrapper.className = "password-reveal";
    input.replaceWith(wrapper);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "password-reveal-toggle";
    if (input.id) button.setAttribute("aria-controls", input.id);
    wrapper.append(input, button);
    mask(input, button, show);
    button.addEventListener("click", () => {
      const revealed = input.type === "password";
      input.type = revealed ? "text" : "password";
      button.textContent = revealed ? hide : show;
      input.focus();
    });
    input.form?.addEventListener("submit", () => mask(input, button, show), true);
    input.form?.addEventListener("reset", () => mask(input, button, show));
  }
}
