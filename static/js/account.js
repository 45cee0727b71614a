// The account page works without JavaScript (Revoke opens a confirm page); with it, Revoke
// asks in a native <dialog> instead, and the new key gets a Copy button.
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

async function copyText(element) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(element.textContent);
    return;
  }
  // Plain-HTTP deployments have no Clipboard API: select the text and use the legacy command.
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  if (!document.execCommand("copy")) throw new Error("copy refused");
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  const result = button.parentElement.querySelector("[data-copy-result]");
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await copyText(document.getElementById(button.dataset.copy));
      result.textContent = "Copied to the clipboard.";
    } catch {
      result.textContent = "Could not copy; select the key and copy it by hand.";
    }
  });
}
