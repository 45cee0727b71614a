// What the connect wizard and the brokers page tell a person: one specific, actionable message
// per error code of the API, and the toast the brokers page shows after the wizard saved.
import { ApiError } from "./api.js";

export const FLASH_KEY = "tradewire:brokers-flash"; // set by the wizard, shown once by the brokers page

function listOf(words) {
  if (words.length < 2) return words.join("");
  return `${words.slice(0, -1).join(", ")} and ${words.at(-1)}`;
}

export function retryText(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return "Try again in a moment.";
  const at = new Date(Date.now() + seconds * 1000).toLocaleTimeString(undefined, { timeStyle: "medium" });
  const wait = seconds === 1 ? "1 second" : `${Math.ceil(seconds)} seconds`;
  return `Try again in ${wait} (after ${at}).`;
}

function authFailed(broker, { stored, paper }) {
  if (stored) {
    return { text: `${broker.name} rejected the stored credentials — they may have been revoked or expired. Disconnect and connect again with new ones.` };
  }
  const what = broker.auth === "gateway" ? "details" : "keys";
  const labels = listOf(broker.credential_fields.map((f) => f.label));
  const mode = broker.paper_trading && broker.auth !== "none" ? `, and that they belong to the ${paper ? "paper" : "live"} account you chose` : "";
  return { text: `${broker.name} rejected these ${what} — check the ${labels}${mode}.` };
}

function unavailable(broker, { host, port }, message) {
  const detail = message ? ` (${message})` : "";
  if (broker.auth === "gateway") {
    const where = host ? ` at ${host}:${port || "?"}` : "";
    return { text: `Couldn't reach the ${broker.name} gateway${where} — make sure it is running there and accepts API connections, then try again.${detail}` };
  }
  return { text: `Couldn't reach ${broker.name} — it may be down or unreachable from this server. Nothing was changed; try again later.${detail}` };
}

/**
 * A message `{text, link?}` for `error` (an ApiError or anything thrown by fetch) from a call
 * about `broker` (an entry of /api/brokers/supported). `context`: `paper` (the mode chosen),
 * `host`/`port` (a gateway's), `stored` (true when the call used saved credentials).
 */
export function brokerErrorMessage(error, broker, context = {}) {
  if (error instanceof TypeError) {
    return { text: "Couldn't reach Tradewire — check your internet connection and try again." };
  }
  if (!(error instanceof ApiError)) {
    return { text: "Something went wrong on our side; try again in a moment." }; // e.g. a proxy's HTML error page
  }
  const message = error.message;
  switch (error.code) {
    case "broker_auth_failed":
      return authFailed(broker, context);
    case "broker_unavailable":
      return unavailable(broker, context, message);
    case "broker_error":
      return { text: `${broker.name} refused the request: ${message}` };
    case "rate_limited":
      return { text: `Too many requests to ${broker.name} right now. ${retryText(error.retryAfter)}` };
    case "invalid":
      return { text: Object.keys(error.fields).length ? "Some details need attention — see the messages next to the fields." : message };
    case "premium_required":
      return { text: `${broker.name} needs the premium tier.`, link: { href: "/account/", text: "See how to upgrade on your account page" } };
    case "already_configured":
      return { text: `${broker.name} is already connected. To use other credentials, disconnect it first.`, link: { href: "/brokers/", text: "Manage it on the Brokers page" } };
    case "not_found":
      return { text: `${broker.name} is no longer connected — it may have been disconnected in another tab.` };
    case "not_authenticated":
      return { text: "Your session has ended.", link: { href: `/accounts/login/?next=${encodeURIComponent(location.pathname)}`, text: "Log in again" } };
    case "csrf_failed":
      return { text: "This page's security token has expired — reload the page and try again." };
    default:
      return { text: message || "Something went wrong; try again." };
  }
}

/** Put a `{text, link?}` message into `element`. */
export function showMessage(element, { text, link }) {
  const parts = [text];
  if (link) {
    const anchor = document.createElement("a");
    anchor.href = link.href;
    anchor.textContent = link.text;
    parts.push(" ", anchor);
  }
  element.replaceChildren(...parts);
}
