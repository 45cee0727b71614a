// A bot's signal log (newest first): each signal with its status, the reason when a rule refused
// it, the orders it placed, and a replay on the paper broker. `bot:signal` events upsert items.
import { api } from "./api.js";
import { errorText } from "./confirm.js";
import { capitalise, el } from "./dom.js";
import { toast } from "./toasts.js";

const MAX_ITEMS = 50;
const when = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });

function summary(payload) {
  if (payload && typeof payload === "object" && !Array.isArray(payload) && payload.action) {
    return [payload.action, payload.qty, payload.symbol].filter((part) => part !== undefined && part !== null && part !== "").map(String).join(" ");
  }
  const text = typeof payload === "string" ? payload : JSON.stringify(payload);
  return `Not a signal: ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`;
}

function orderLine(order, brokerName) {
  const fill = Number(order.filled_qty) > 0 && order.avg_fill_price ? ` (${order.filled_qty} at ${order.avg_fill_price})` : "";
  const line = el("li", { textContent: `${capitalise(order.side)} ${order.qty} ${order.symbol} on ${brokerName(order.broker)}: ${order.status.replaceAll("_", " ")}${fill}` });
  line.dataset.orderId = order.order_id;
  line.dataset.status = order.status;
  return line;
}

function fill(item, signal, brokerName) {
  const headId = `signal-${signal.id}-head`;
  const status = el("span", { className: "status", textContent: signal.status.replaceAll("_", " ") });
  status.dataset.field = "status";
  status.dataset.status = signal.status;
  const time = el("time", { dateTime: signal.received_at, textContent: when.format(new Date(signal.received_at)) });
  const head = el("div", { className: "signal-head", id: headId }, [time, " ", el("strong", { textContent: capitalise(summary(signal.payload)) }), " ", status]);
  if (signal.replay_of) {
    const badge = el("span", { className: "badge", textContent: "replay on paper" });
    badge.dataset.field = "replay_of";
    head.append(" ", badge);
  }
  const parts = [head];
  if (signal.reason) {
    const reason = el("p", { className: "signal-reason" }, [el("code", { textContent: signal.reason.code }), ` ${signal.reason.message}`]);
    reason.dataset.field = "reason";
    parts.push(reason);
  }
  if (signal.orders.length) {
    const orders = el("ul", { className: "signal-orders" }, signal.orders.map((o) => orderLine(o, brokerName)));
    orders.dataset.field = "orders";
    parts.push(orders);
  }
  const replay = el("button", { type: "button", className: "small", textContent: "Replay on paper" });
  replay.dataset.action = "replay";
  replay.setAttribute("aria-describedby", headId);
  parts.push(replay);
  item.dataset.status = signal.status;
  item.replaceChildren(...parts);
}

/** Add or update one signal in `log` (an <ol>); new ones go to the top. */
export function upsertSignal(log, signal, brokerName) {
  let item = log.querySelector(`li[data-signal-id="${CSS.escape(signal.id)}"]`);
  if (!item) {
    item = el("li", { className: "signal" });
    item.dataset.signalId = signal.id;
    item.dataset.received = signal.received_at;
    const at = Date.parse(signal.received_at);
    const later = [...log.children].find((other) => Date.parse(other.dataset.received) < at);
    log.insertBefore(item, later || null);
    while (log.children.length > MAX_ITEMS) log.lastElementChild.remove();
  }
  fill(item, signal, brokerName);
  log.closest("[data-bot-id]")?.querySelector('[data-slot="log-empty"]')?.setAttribute("hidden", "");
}

export function renderLog(log, signals, brokerName) {
  log.replaceChildren();
  for (const signal of signals) upsertSignal(log, signal, brokerName);
}

/** Replay buttons of every log inside `root`: the new signal (with `replay_of`) joins the log. */
export function wireReplay(root, brokerName) {
  root.addEventListener("click", async (event) => {
    const button = event.target.closest('button[data-action="replay"]');
    if (!button) return;
    const botId = button.closest("[data-bot-id]").dataset.botId;
    const signalId = button.closest("li[data-signal-id]").dataset.signalId;
    button.disabled = true;
    try {
      const replay = await api(`/api/bots/${encodeURIComponent(botId)}/signals/${encodeURIComponent(signalId)}/replay`, { method: "POST" });
      upsertSignal(button.closest("ol"), replay, brokerName);
    } catch (error) {
      toast("error", `Could not replay the signal: ${errorText(error)}`);
    } finally {
      button.disabled = false;
    }
  });
}
