// The kill switch in every page's header: its state from GET /api/kill-switch, engage (with the
// optional flatten) and release, each behind a confirmation dialog. Pages that show what it
// changes (the bots page) listen for the "killswitch:change" event on document.
import { api } from "./api.js";
import { confirmThen } from "./confirm.js";

const time = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function render(root, state) {
  root.dataset.engaged = state ? String(state.engaged) : "unknown";
  const text = root.querySelector('[data-slot="state"]');
  if (!state) text.textContent = "Kill switch: state unknown";
  else if (!state.engaged) text.textContent = "Kill switch off";
  else {
    const since = state.since ? ` since ${time.format(new Date(state.since))}` : "";
    text.textContent = `Kill switch ENGAGED${since}${state.flatten ? " (flattened)" : ""}`;
  }
  // Engaging is always safe to offer; releasing only when it is known to be engaged.
  root.querySelector('[data-action="engage"]').hidden = Boolean(state && state.engaged);
  root.querySelector('[data-action="release"]').hidden = !(state && state.engaged);
}

function changed(root, state) {
  render(root, state);
  document.dispatchEvent(new CustomEvent("killswitch:change", { detail: state }));
}

export function killSwitch(root) {
  if (!root) return;
  const engageDialog = document.querySelector('[data-testid="kill-switch-dialog"]');
  const releaseDialog = document.querySelector('[data-testid="kill-switch-release-dialog"]');
  const flatten = engageDialog.querySelector('input[name="flatten"]');

  const engage = root.querySelector('[data-action="engage"]');
  const release = root.querySelector('[data-action="release"]');
  engage.addEventListener("click", async () => {
    flatten.checked = false; // flattening is chosen each time, never remembered
    const done = await confirmThen(engageDialog, async () => {
      changed(root, await api("/api/kill-switch", { method: "POST", body: { flatten: flatten.checked } }));
    });
    if (done) release.focus(); // the button that opened the dialog is gone; its opposite took its place
  });
  release.addEventListener("click", async () => {
    const done = await confirmThen(releaseDialog, async () => changed(root, await api("/api/kill-switch", { method: "DELETE" })));
    if (done) engage.focus();
  });
  api("/api/kill-switch")
    .then((state) => render(root, state))
    .catch(() => render(root, null));
}
