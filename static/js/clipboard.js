// Copy an element's text: the Clipboard API where the page is a secure context, otherwise the
// selection and the legacy copy command (plain-HTTP deployments have no Clipboard API).
export async function copyText(element) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(element.textContent);
    return;
  }
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  if (!document.execCommand("copy")) throw new Error("copy refused");
}

/** Wire `button[data-copy=ID]` inside `root` to copy #ID, saying how it went in `[data-copy-result]`. */
export function copyButtons(root, what = "it") {
  for (const button of root.querySelectorAll("button[data-copy]")) {
    const result = root.querySelector("[data-copy-result]");
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await copyText(document.getElementById(button.dataset.copy));
        result.textContent = "Copied to the clipboard.";
      } catch {
        result.textContent = `Could not copy; select ${what} and copy it by hand.`;
      }
    });
  }
}
