// A bot's card on the bots page: name, state (and why it halted), what it does, today's
// figures, its actions, and the place for its signal log (bot_signals.js fills it).
import { money } from "./api.js";
import { el } from "./dom.js";

export const STATES = { draft: "Draft", paper: "Paper", live: "Live", paused: "Paused", halted: "Halted" };
const HALTED = { kill_switch: "the kill switch is engaged", max_daily_loss: "its daily loss limit was reached", broker_unavailable: "a target connection failed" };
const $ = (selector, root) => root.querySelector(selector);
const running = (bot) => bot.state === "paper" || bot.state === "live";

function figure(term, name) {
  const value = el("dd", { textContent: "—" });
  value.dataset.field = name;
  return el("div", {}, [el("dt", { textContent: term }), value]);
}

function button(text, action, titleId, className = "") {
  const node = el("button", { type: "button", textContent: text, className });
  node.dataset.action = action;
  node.setAttribute("aria-describedby", titleId);
  return node;
}

function summary(bot, brokerName) {
  const source = typeof bot.source === "object" ? `Follows bot ${bot.source.follow}` : "Webhook";
  const targets = bot.targets.map((t) => `${brokerName(t.broker)} ×${t.multiplier}`).join(", ") || "no targets yet";
  const symbols = bot.symbols.allowed ? ` · only ${bot.symbols.allowed.join(", ")}` : "";
  return `${source} · ${targets} · size ${bot.sizing.mode.replaceAll("_", " ")} ${bot.sizing.value} · ${bot.direction}${symbols}`;
}

function actions(bot, titleId) {
  const start = bot.state === "draft" ? "Start on paper" : "Resume on paper";
  const list = running(bot) ? [button("Pause", "pause", titleId)] : [button(start, "paper", titleId, "primary")];
  if (bot.state !== "live") list.push(button("Go live", "live", titleId));
  list.push(button("Edit", "edit", titleId));
  if (typeof bot.source !== "object") list.push(button("Rotate webhook URL", "rotate", titleId));
  list.push(button("Delete", "delete", titleId, "danger"));
  return list;
}

export function renderBot(item, bot, brokerName) {
  const titleId = `bot-${bot.id}-name`;
  $("h3", item).textContent = bot.name;
  const state = $('[data-field="state"]', item);
  state.dataset.status = bot.state;
  state.textContent = STATES[bot.state] || bot.state;
  const halted = $('[data-field="halted_reason"]', item);
  halted.hidden = bot.state !== "halted";
  halted.textContent = bot.halted_reason ? `Halted because ${HALTED[bot.halted_reason] || bot.halted_reason}. Restart it when ready.` : "Halted.";
  $('[data-field="summary"]', item).textContent = summary(bot, brokerName);
  for (const name of ["signals_today", "orders_today"]) $(`[data-field="${name}"]`, item).textContent = String(bot.stats[name]);
  $('[data-field="pnl_today"]', item).textContent = money(bot.stats.pnl_today);
  const published = $('[data-field="published"]', item);
  published.hidden = !bot.published;
  published.replaceChildren("Published: other users can follow it with the id ", el("code", { textContent: bot.id }));
  $('[data-slot="actions"]', item).replaceChildren(...actions(bot, titleId));
}

export function botCard(bot, brokerName) {
  const titleId = `bot-${bot.id}-name`;
  const state = el("span", { className: "status" });
  state.dataset.field = "state";
  const halted = el("p", { className: "bot-halted" });
  halted.dataset.field = "halted_reason";
  const about = el("p", { className: "muted bot-summary" });
  about.dataset.field = "summary";
  const published = el("p", { className: "bot-published" });
  published.dataset.field = "published";
  const error = el("p", { className: "form-error", hidden: true });
  error.setAttribute("role", "alert");
  error.dataset.slot = "error";
  const buttons = el("div", { className: "actions" });
  buttons.dataset.slot = "actions";
  const log = el("ol", { className: "signal-log" });
  log.dataset.testid = "signal-log";
  const empty = el("p", { className: "muted", textContent: "No signals yet." });
  empty.dataset.slot = "log-empty";
  const item = el("li", { className: "card bot" }, [
    el("div", { className: "bot-head" }, [el("h3", { id: titleId }), state]),
    halted,
    about,
    el("dl", { className: "figures bot-stats" }, [figure("Signals today", "signals_today"), figure("Orders today", "orders_today"), figure("P&L today", "pnl_today")]),
    published,
    error,
    buttons,
    el("details", { className: "signal-log-wrap", open: true }, [el("summary", { textContent: "Signal log" }), empty, log]),
  ]);
  item.dataset.botId = bot.id;
  item.setAttribute("aria-labelledby", titleId);
  renderBot(item, bot, brokerName);
  return item;
}
