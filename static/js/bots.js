// The bots page: the user's bots (GET /api/bots) with state and today's figures; the create/edit
// form; pause, resume, go live, rotate the webhook URL and delete (the risky ones confirmed first);
// each bot's signal log, live through `bot:signal`. A webhook URL appears once, after create or rotate.
import { EVENTS } from "/js/events.js";
import { ApiError, api, getOnce } from "./api.js";
import { STATES, botCard, renderBot } from "./bot_card.js";
import { fillForm, formBody, renderTargets, showErrors, wireForm } from "./bot_form.js";
import { renderLog, upsertSignal, wireReplay } from "./bot_signals.js";
import { webhookPanel } from "./bot_webhook.js";
import { confirmThen, errorText } from "./confirm.js";
import { el } from "./dom.js";
import { clearFieldErrors } from "./forms.js";
import { pageClient } from "./realtime.js";
import { toast } from "./toasts.js";
import { showTrades } from "./trades.js";

const $ = (selector, root = document) => root.querySelector(selector);
const page = $('[data-testid="bots-page"]');
const list = $('[data-testid="bot-list"]', page);
const form = $('[data-testid="bot-form"]', page);
const formError = $('[data-slot="form-error"]', form);
const dialog = $('[data-testid="bot-dialog"]', page);
const webhook = webhookPanel($('[data-testid="webhook-reveal"]', page));

const LOG_SIZE = 25;
const names = new Map(); // broker key → name
const bots = new Map(); // bot id → bot
let offered = []; // [{key, name}] the form's target rows: the paper broker and the user's connections
const brokerName = (key) => names.get(key) || key;
const cardOf = (id) => list.querySelector(`li[data-bot-id="${CSS.escape(id)}"]`);

function show(item, bot) {
  bots.set(bot.id, bot);
  renderBot(item, bot, brokerName);
}

function showEmpty() {
  $('[data-testid="bots-empty"]', page).hidden = list.children.length > 0;
}

function upsertBot(bot, { first = false } = {}) {
  const item = cardOf(bot.id);
  if (item) show(item, bot);
  else if (first) list.prepend(botCard(bot, brokerName));
  else list.append(botCard(bot, brokerName));
  bots.set(bot.id, bot);
  showEmpty();
}

async function loadLog(bot) {
  const item = cardOf(bot.id);
  try {
    const signals = await api(`/api/bots/${encodeURIComponent(bot.id)}/signals?limit=${LOG_SIZE}`);
    $('[data-slot="log-empty"]', item).hidden = signals.length > 0;
    renderLog($("ol.signal-log", item), signals, brokerName);
  } catch (error) {
    $('[data-slot="log-empty"]', item).textContent = `The signal log could not be loaded: ${errorText(error)}`;
  }
}

// --- loading --------------------------------------------------------------------------------

async function loadBots() {
  const fresh = await api("/api/bots");
  const ids = new Set(fresh.map((bot) => bot.id));
  for (const item of [...list.children]) if (!ids.has(item.dataset.botId)) item.remove();
  for (const bot of fresh) upsertBot(bot);
  showEmpty();
  return fresh;
}

async function load() {
  const loadError = $('[data-testid="bots-error"]', page);
  try {
    const [supported, configured] = await Promise.all([
      getOnce("/api/brokers/supported").catch(() => []),
      api("/api/brokers/user/configured").catch(() => []),
    ]);
    for (const spec of supported) names.set(spec.key, spec.name);
    const keys = new Set(["paper", ...configured.map((c) => c.broker)]);
    offered = [...keys].map((key) => ({ key, name: brokerName(key) }));
    renderTargets(form, offered);
    fillForm(form, null);
    const fresh = await loadBots();
    loadError.hidden = true;
    await Promise.all(fresh.map(loadLog));
  } catch (error) {
    const retry = el("button", { type: "button", textContent: "Try again" });
    retry.addEventListener("click", () => load());
    loadError.replaceChildren(`Couldn't load your bots: ${errorText(error)} `, retry);
    loadError.hidden = false;
  } finally {
    $('[data-slot="loading"]', page).hidden = true;
  }
}

// --- actions ----------------------------------------------------------------------------------

function ask({ title, text, confirm, danger = true }, action) {
  $("#bot-dialog-title", dialog).textContent = title;
  $("#bot-dialog-text", dialog).textContent = text;
  const yes = $('[data-action="confirm"]', dialog);
  yes.textContent = confirm;
  yes.className = danger ? "danger" : "primary";
  return confirmThen(dialog, action);
}

async function setState(item, bot, state) {
  const error = $('[data-slot="error"]', item);
  error.hidden = true;
  try {
    show(item, await api(`/api/bots/${encodeURIComponent(bot.id)}`, { method: "PATCH", body: { state } }));
  } catch (failure) {
    const fields = failure instanceof ApiError ? Object.values(failure.fields).flat() : [];
    error.textContent = `${bot.name} could not change to ${STATES[state].toLowerCase()}: ${fields.length ? fields.join(" ") : errorText(failure)}`;
    error.hidden = false;
  }
}

function edit(bot) {
  const extra = bot.targets.filter((t) => !offered.some((o) => o.key === t.broker)).map((t) => ({ key: t.broker, name: brokerName(t.broker) }));
  renderTargets(form, [...offered, ...extra]);
  fillForm(form, bot);
  $("#bot-form-title").textContent = `Edit ${bot.name}`;
  $('[data-action="save"]', form).textContent = "Save changes";
  $('[data-action="cancel-edit"]', form).hidden = false;
  $("#bot-form-title").focus();
}

function resetForm() {
  renderTargets(form, offered);
  fillForm(form, null);
  $("#bot-form-title").textContent = "New bot";
  $('[data-action="save"]', form).textContent = "Create bot";
  $('[data-action="cancel-edit"]', form).hidden = true;
}

const ACTIONS = {
  pause: (item, bot) => setState(item, bot, "paused"),
  paper: (item, bot) => setState(item, bot, "paper"),
  live: (item, bot) =>
    ask({ title: `Run ${bot.name} live?`, text: `Its orders go to your real connections (${bot.targets.map((t) => brokerName(t.broker)).join(", ") || "none yet"}), with real money.`, confirm: "Yes, go live" }, () =>
      setState(item, bot, "live"),
    ),
  edit: (item, bot) => edit(bot),
  rotate: (item, bot) =>
    ask({ title: `Rotate the webhook URL of ${bot.name}?`, text: "The current URL stops working at once: alerts still using it are refused until you paste in the new one.", confirm: "Yes, rotate" }, async () => {
      const { webhook_url: url } = await api(`/api/bots/${encodeURIComponent(bot.id)}/webhook`, { method: "POST" });
      webhook.show(bot, url);
    }),
  delete: (item, bot) =>
    ask({ title: `Delete ${bot.name}?`, text: "Its signal log is deleted with it; the orders it placed stay in your order history.", confirm: "Yes, delete" }, async () => {
      await api(`/api/bots/${encodeURIComponent(bot.id)}`, { method: "DELETE" });
      item.remove();
      bots.delete(bot.id);
      showEmpty();
      toast("success", `${bot.name} deleted.`);
    }),
};

list.addEventListener("click", (event) => {
  const target = event.target.closest("button[data-action]");
  const item = target && target.closest("li[data-bot-id]");
  if (item && ACTIONS[target.dataset.action]) ACTIONS[target.dataset.action](item, bots.get(item.dataset.botId));
});

async function save(event) {
  event.preventDefault();
  clearFieldErrors(form);
  formError.hidden = true;
  const body = formBody(form);
  if (!body) return;
  const id = form.dataset.botId;
  const saveButton = $('[data-action="save"]', form);
  saveButton.disabled = true;
  try {
    const bot = await api(id ? `/api/bots/${encodeURIComponent(id)}` : "/api/bots", { method: id ? "PATCH" : "POST", body });
    upsertBot(bot, { first: true });
    resetForm();
    if (bot.webhook_url) webhook.show(bot, bot.webhook_url);
    else toast("success", `${bot.name} ${id ? "saved" : "created"}.`);
  } catch (error) {
    const { rest, first } = error instanceof ApiError ? showErrors(form, error.fields) : { rest: [], first: null };
    formError.textContent = first ? ["Check the highlighted fields.", ...rest].join(" ") : errorText(error);
    formError.hidden = false;
    (first || formError).focus?.();
  } finally {
    saveButton.disabled = false;
  }
}

// --- live updates -------------------------------------------------------------------------------

const refreshing = new Map(); // bot id → timer: one re-read of its figures per burst of events

function refreshSoon(botId) {
  clearTimeout(refreshing.get(botId));
  refreshing.set(botId, setTimeout(async () => {
    refreshing.delete(botId);
    const item = cardOf(botId);
    if (item) show(item, await api(`/api/bots/${encodeURIComponent(botId)}`).catch(() => bots.get(botId)));
  }, 300));
}

function connectRealtime() {
  const client = pageClient(); // opened by shell.js
  client.on(EVENTS.BOT_SIGNAL, (signal) => {
    const item = cardOf(signal.bot_id);
    if (!item) return;
    upsertSignal($("ol.signal-log", item), signal, brokerName);
    refreshSoon(signal.bot_id);
  });
  showTrades(client);
  let wasLive = false;
  client.watchStatus((status) => {
    // Signals recorded while the socket was down sent their events to nobody: read the logs again.
    if (status === "live" && wasLive) loadBots().then((fresh) => Promise.all(fresh.map(loadLog))).catch(() => {});
    if (status === "live") wasLive = true;
  });
}

form.addEventListener("submit", save);
$('[data-action="cancel-edit"]', form).addEventListener("click", resetForm);
wireForm(form);
wireReplay(list, brokerName);
document.addEventListener("killswitch:change", () => loadBots().catch(() => {}));
connectRealtime();
load();
