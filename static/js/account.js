// The account page works without JavaScript (Revoke opens a confirm page); with it, Revoke
// asks in a native <dialog> instead, and the new key gets a Copy button.
import { copyButtons } from "./clipboard.js";

const dialog = document.getElementById("revoke-dialog");

for (const form of document.querySelectorAll("form[data-revoke]")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const confirm = dialog.querySelector("form");
    confirm.action = form.action;
    dialog.querySelector('[data-field="token-name"]').textContent = form.dataset.tokenName;
    dialog.showModal();
  });
}

const newToken = document.querySelector(".new-token");
if (newToken) copyButtons(newToken, "the key");
