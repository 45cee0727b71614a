// Confirmation dialogs (<dialog class="confirm"> with a [data-action="confirm"] button and a
// [data-slot="error"] box): the action runs only after "yes"; while it runs the dialog stays
// open, a failure is shown inside it, and closing gives focus back to what opened it.
import { ApiError } from "./api.js";

export function errorText(error) {
  if (error instanceof ApiError) return error.message;
  return "Couldn't reach Tradewire. Check your connection and try again.";
}

/** Open `dialog`; resolves with `action()`'s result once it succeeded, or null when dismissed. */
export function confirmThen(dialog, action) {
  const confirm = dialog.querySelector('[data-action="confirm"]');
  const error = dialog.querySelector('[data-slot="error"]');
  const opener = document.activeElement;
  error.hidden = true;
  error.replaceChildren();
  return new Promise((resolve) => {
    let result = null;
    async function confirmed(event) {
      event.preventDefault(); // the dialog stays open until the API has answered
      confirm.disabled = true;
      try {
        result = (await action()) ?? true;
        dialog.close("confirmed");
      } catch (failure) {
        error.textContent = errorText(failure);
        error.hidden = false;
      } finally {
        confirm.disabled = false;
      }
    }
    dialog.addEventListener(
      "close",
      () => {
        confirm.removeEventListener("click", confirmed);
        if (opener && opener.isConnected) opener.focus();
        resolve(result);
      },
      { once: true },
    );
    confirm.addEventListener("click", confirmed);
    dialog.showModal();
  });
}
