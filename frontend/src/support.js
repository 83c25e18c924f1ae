// Support access page: the new release code comes back once, in the API's answer; show it right there.
const form = document.getElementById("release-code-form");
const box = document.getElementById("new-code");

form?.addEventListener("leitstand:done", (event) => {
  document.getElementById("new-code-value").textContent = event.detail.code;
  box.hidden = false;
  form.hidden = true;
});
