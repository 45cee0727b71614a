// Every page's alert when a broker connection breaks: `portfolio:update` carries each
// connection's status, and one that turns `error` or `pending_authorization` gets a toast
// ("Kraken connection failed: …", "Schwab needs you to sign in again"). Wired once, by shell.js.
import { EVENTS } from "/js/events.js";
import { api, getOnce } from "./api.js";
import { toast } from "./toasts.js";

const ALERTING = new Set(["error", "pending_authorization"]);
const BROKERS_PAGE = { href: "/brokers/", text: "Open Brokers" };

async function announce(keys) {
  const [specs, configured] = await Promise.all([
    getOnce("/api/brokers/supported").catch(() => []),
    api("/api/brokers/user/configured").catch(() => []),
  ]);
  for (const key of keys) {
    const spec = specs.find((s) => s.key === key);
    const connection = configured.find((c) => c.broker === key);
    const name = spec ? spec.short_name || spec.name : key;
    if (connection && connection.status === "pending_authorization") {
      toast("error", `${name} needs you to sign in again.`, { href: "/brokers/", text: "Sign in on the Brokers page" });
    } else if (!connection || connection.status === "error") {
      const why = connection && connection.last_error ? connection.last_error : "it stopped answering";
      toast("error", `${name} connection failed: ${why}`, BROKERS_PAGE);
    }
  }
}

export function watchConnections(client) {
  // What the page was loaded with: only a change from it is news.
  const known = api("/api/brokers/user/configured")
    .then((list) => new Map(list.map((c) => [c.broker, c.status])))
    .catch(() => new Map());
  client.on(EVENTS.PORTFOLIO_UPDATE, async (portfolio) => {
    const statuses = await known;
    const turned = portfolio.brokers
      .filter((b) => ALERTING.has(b.status) && statuses.get(b.broker) !== b.status)
      .map((b) => b.broker);
    for (const b of portfolio.brokers) statuses.set(b.broker, b.status);
    if (turned.length) await announce(turned);
  });
}
