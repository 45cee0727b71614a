// Connection health on the brokers page, in words: since when a connection has been failing
// ("Gateway unreachable since 14:02"), how long its login lasts ("Schwab login ends in 2 days"),
// and, for one waiting for its OAuth sign-in, the form that starts it again.
import { csrfToken } from "./api.js";
import { el } from "./dom.js";

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayAndClock = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const UNITS = [
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000],
];

/** "14:02" today, "3 Mar, 14:02" another day. */
export function when(iso) {
  const at = new Date(iso);
  return at.toDateString() === new Date().toDateString() ? clock.format(at) : dayAndClock.format(at);
}

/** "in 2 days", "in 5 hours", "3 minutes ago": the largest whole unit. */
export function fromNow(iso) {
  const ms = new Date(iso).getTime() - Date.now();
  for (const [unit, size] of UNITS) {
    if (Math.abs(ms) >= size) return relative.format(Math.trunc(ms / size), unit);
  }
  return relative.format(Math.round(ms / 60_000), "minute");
}

export function failingText(connection, spec) {
  if (!connection.failing_since) return "";
  const what = spec.auth === "gateway" ? "Gateway unreachable" : `${spec.short_name || spec.name} failing`;
  return `${what} since ${when(connection.failing_since)}`;
}

export function loginText(connection, spec) {
  if (!connection.auth_expires_at) return "";
  const ended = new Date(connection.auth_expires_at).getTime() <= Date.now();
  return `${spec.short_name || spec.name} login ${ended ? "ended" : "ends"} ${fromNow(connection.auth_expires_at)}`;
}

/** A POST form to /brokers/{key}/reauthorize: the server starts the sign-in and redirects to the broker. */
export function reauthorizeForm(connection, spec) {
  const form = el("form", { method: "post", action: `/brokers/${encodeURIComponent(connection.broker)}/reauthorize`, className: "inline" }, [
    el("input", { type: "hidden", name: "csrfmiddlewaretoken", value: csrfToken() }),
    el("button", { type: "submit", className: "primary", textContent: `Re-authorise with ${spec.short_name || spec.name}` }),
  ]);
  form.dataset.action = "reauthorize";
  return form;
}
