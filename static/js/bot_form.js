// The bot form: every writable field of the contract's bot as the body of POST/PATCH /api/bots,
// filled from a bot to edit it, and the API's field errors shown next to their fields.
import { el } from "./dom.js";
import { clearFieldErrors, setFieldError, showFieldErrors } from "./forms.js";

const LIMITS = [
  "max_order_notional",
  "max_position_notional",
  "max_open_positions",
  "max_daily_loss",
  "max_trades_per_day",
  "max_signal_age_seconds",
];
const ORDER = { type: "bot-order-type", limit_offset_pct: "bot-order-limit-offset", time_in_force: "bot-order-tif", take_profit_pct: "bot-order-tp", stop_loss_pct: "bot-order-sl" };
const LIMIT_INPUTS = Object.fromEntries(LIMITS.map((name) => [name, `bot-limit-${name}`]));
const SIZE_HELP = {
  fixed: "Units per order, e.g. 1 share or 0.01 BTC.",
  notional: "Money per order, at the current price.",
  percent_equity: "Percent of the target connection's equity per order (at most 100).",
  risk_percent: "Percent of equity lost if the signal's stop is hit (at most 100).",
  signal: "Multiplies the quantity the alert sends.",
};
const STATES = ["draft", "paper", "live", "paused"];

const $ = (selector, root = document) => root.querySelector(selector);
const value = (id) => document.getElementById(id).value.trim();
const orNull = (text) => (text === "" ? null : text);

function targetRow(broker, name) {
  const id = `target-${broker}`;
  const box = el("input", { type: "checkbox", id, name: "target", value: broker });
  const multiplier = el("input", { id: `${id}-multiplier`, type: "text", inputMode: "decimal", autocomplete: "off", defaultValue: "1", className: "multiplier" });
  const times = el("span", { textContent: "×" });
  times.setAttribute("aria-hidden", "true");
  const label = el("label", { htmlFor: multiplier.id, className: "times" }, [times, el("span", { className: "visually-hidden", textContent: `Multiplier for ${name}` })]);
  const row = el("div", { className: "target" }, [el("label", { className: "choice", htmlFor: id }, [box, ` ${name}`]), label, multiplier]);
  row.dataset.broker = broker;
  return row;
}

/** One row per broker a bot may target: `brokers` is [{key, name}], the paper broker included. */
export function renderTargets(form, brokers) {
  $('[data-slot="targets"]', form).replaceChildren(...brokers.map((b) => targetRow(b.key, b.name)));
}

function applyChoices(form) {
  const follow = $('input[name="source"]:checked', form).value === "follow";
  for (const node of form.querySelectorAll('[data-needs="follow"]')) node.hidden = !follow;
  for (const node of form.querySelectorAll('[data-needs="webhook"]')) node.hidden = follow;
  $('[data-needs="limit"]', form).hidden = value("bot-order-type") !== "limit";
  $("#bot-sizing-value-help", form).textContent = SIZE_HELP[value("bot-sizing-mode")] || "";
}

export function wireForm(form) {
  form.addEventListener("change", () => applyChoices(form));
  form.addEventListener("input", (event) => {
    if (event.target.getAttribute("aria-invalid")) setFieldError(event.target, "");
  });
  applyChoices(form);
}

function symbolMap(text) {
  const map = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const match = /^([^=]+)=(.+)$/.exec(line);
    if (!match) return null;
    map[match[1].trim()] = match[2].trim();
  }
  return map;
}

/** The request body, or null after showing why the form cannot be sent as it is. */
export function formBody(form) {
  const follow = $('input[name="source"]:checked', form).value === "follow";
  const map = symbolMap(value("bot-symbols-map"));
  if (map === null) {
    const input = $("#bot-symbols-map", form);
    setFieldError(input, "Write each line as ALERT=YOURS, e.g. BTCUSD=BTC/USD.");
    input.focus();
    return null;
  }
  const allowed = value("bot-symbols-allowed").split(/[\s,]+/).filter(Boolean);
  const body = {
    name: value("bot-name"),
    direction: value("bot-direction"),
    source: follow ? { follow: value("bot-follow") } : "webhook",
    published: !follow && $("#bot-published", form).checked,
    targets: [...form.querySelectorAll('input[name="target"]:checked')].map((box) => ({
      broker: box.value,
      multiplier: value(`${box.id}-multiplier`) || "1",
    })),
    sizing: { mode: value("bot-sizing-mode"), value: value("bot-sizing-value") },
    order: Object.fromEntries(Object.entries(ORDER).map(([name, id]) => [name, orNull(value(id))])),
    symbols: { allowed: allowed.length ? allowed : null, map },
    limits: Object.fromEntries(Object.entries(LIMIT_INPUTS).map(([name, id]) => [name, orNull(value(id))])),
  };
  body.order.type ||= "market";
  if (body.order.type !== "limit") body.order.limit_offset_pct = null;
  // Editing sends the state only when it was changed: saving other fields never restarts a bot.
  const state = value("bot-state");
  if (!form.dataset.botId || state !== form.dataset.initialState) body.state = state;
  return body;
}

function setState(form, state) {
  const select = $("#bot-state", form);
  select.querySelector("option[data-current]")?.remove();
  if (!STATES.includes(state)) {
    const current = el("option", { value: state, textContent: `${state[0].toUpperCase()}${state.slice(1)} (unchanged)` });
    current.dataset.current = "";
    select.prepend(current);
  }
  select.value = state;
  form.dataset.initialState = state;
}

/** Show `bot` in the form, for editing; `null` resets it for a new bot. */
export function fillForm(form, bot) {
  form.reset();
  clearFieldErrors(form);
  $('[data-slot="form-error"]', form).hidden = true;
  form.dataset.botId = bot ? bot.id : "";
  setState(form, bot ? bot.state : "paper");
  if (!bot) {
    const paper = $("#target-paper", form);
    if (paper) paper.checked = true; // a new bot starts on the paper broker
    applyChoices(form);
    return;
  }
  $("#bot-name", form).value = bot.name;
  $("#bot-direction", form).value = bot.direction;
  const follow = typeof bot.source === "object";
  $(`input[name="source"][value="${follow ? "follow" : "webhook"}"]`, form).checked = true;
  $("#bot-follow", form).value = follow ? bot.source.follow || "" : "";
  $("#bot-published", form).checked = bot.published;
  for (const target of bot.targets) {
    const box = $(`#target-${CSS.escape(target.broker)}`, form);
    if (!box) continue;
    box.checked = true;
    $(`#target-${CSS.escape(target.broker)}-multiplier`, form).value = target.multiplier;
  }
  $("#bot-sizing-mode", form).value = bot.sizing.mode;
  $("#bot-sizing-value", form).value = bot.sizing.value;
  for (const [name, id] of Object.entries(ORDER)) document.getElementById(id).value = bot.order[name] ?? "";
  $("#bot-symbols-allowed", form).value = (bot.symbols.allowed || []).join(", ");
  $("#bot-symbols-map", form).value = Object.entries(bot.symbols.map).map(([from, to]) => `${from}=${to}`).join("\n");
  for (const [name, id] of Object.entries(LIMIT_INPUTS)) document.getElementById(id).value = bot.limits[name] ?? "";
  applyChoices(form);
}

/** The API's 400 `fields` next to their fields; returns the first control with an error. */
export function showErrors(form, fields) {
  const follow = $('input[name="source"]:checked', form).value === "follow";
  const targets = {
    name: "bot-name",
    state: "bot-state",
    direction: "bot-direction",
    source: follow ? "bot-follow" : "bot-source",
    published: "bot-published",
    targets: "bot-targets",
    sizing: { "": "bot-sizing-value", mode: "bot-sizing-mode", value: "bot-sizing-value" },
    order: { "": "bot-order-type", ...ORDER },
    symbols: { "": "bot-symbols-allowed", allowed: "bot-symbols-allowed", map: "bot-symbols-map" },
    limits: { "": LIMIT_INPUTS.max_order_notional, ...LIMIT_INPUTS },
  };
  return showFieldErrors(fields, targets);
}
