// Stackable, dismissable notifications in the page's aria-live region: role=status for
// success, role=alert for failures; each leaves by itself after five seconds.
const LIFETIME_MS = 5000;

/** `link` (optional): `{href, text}`, a way to act on the news, e.g. to sign in again. */
export function toast(kind, text, link = null) {
  const region = document.querySelector('[data-testid="toasts"]');
  const item = document.createElement("div");
  item.className = `toast toast-${kind === "error" ? "error" : "success"}`;
  item.setAttribute("role", kind === "error" ? "alert" : "status");
  const message = document.createElement("span");
  message.textContent = text;
  if (link) {
    const anchor = Object.assign(document.createElement("a"), { href: link.href, textContent: link.text });
    message.append(" ", anchor);
  }
  const close = document.createElement("button");
  close.type = "button";
  close.className = "toast-close";
  close.setAttribute("aria-label", "Dismiss notification");
  close.textContent = "×";
  close.addEventListener("click", () => item.remove());
  item.append(message, close);
  region.append(item);
  setTimeout(() => item.remove(), LIFETIME_MS);
  return item;
}
