// The connect wizard: step 1 picks a broker from /api/brokers/supported, step 2 builds its
// credentials form from the registry's fields, tests it (POST /api/brokers/test) and saves it
// (POST /api/brokers/configure). The chosen broker is in the URL (?broker=key), so the browser's
// Back button and a shared link land on the same step.
import { api } from "./api.js";
import { el } from "./dom.js";
import { FLASH_KEY, brokerErrorMessage, showMessage } from "./broker_messages.js";

const $ = (selector, root = document) => root.querySelector(selector);
const root = $('[data-testid="connect-wizard"]');
const isPremium = root.dataset.tier === "premium";
const steps = { choose: $('[data-step="choose"]', root), credentials: $('[data-step="credentials"]', root) };
const cards = $('[data-testid="broker-cards"]', root);
const form = $('[data-testid="connect-form"]', root);
const formError = $('[data-testid="form-error"]', form);
const result = $('[data-testid="test-result"]', form);
const testButton = $('[data-action="test"]', form);
const saveButton = $('[data-action="save"]', form);
const label = $("#connect-label", form);

const ASSETS = { equity: "Stocks", etf: "ETFs", option: "Options", future: "Futures", forex: "Forex", crypto: "Crypto" };
const AUTH = { api_key: "API key", oauth: "Sign in with the broker", gateway: "Runs through your gateway", none: "Nothing to set up" };

let brokers = new Map();
let connected = new Set();
let current = null; // the broker of step 2

// --- step 1: the broker cards ------------------------------------------------------------

function cardState(broker) {
  if (connected.has(broker.key)) return "connected";
  if (!broker.enabled) return "unavailable";
  if (broker.premium_required && !isPremium) return "premium";
  return "available";
}

/** The words for a broker's modes; auth "none" is the simulated paper broker (no live side). */
function modes(broker) {
  const list = [];
  if (broker.paper_trading) list.push("paper");
  if (broker.auth !== "none") list.push("live");
  return list;
}

function modeSummary(broker) {
  if (broker.auth === "none") return "Simulated, play money";
  return broker.paper_trading ? "Paper and live" : "Live only";
}

function cardNote(broker, state) {
  const id = `broker-${broker.key}-note`;
  if (state === "connected") {
    return el("p", { id, className: "broker-note" }, ["Already connected. ", el("a", { href: "/brokers/", textContent: "Manage it on the Brokers page" })]);
  }
  if (state === "unavailable") {
    return el("p", { id, className: "broker-note" }, [`Unavailable: ${broker.disabled_reason || "not enabled on this server."}`]);
  }
  if (state === "premium") {
    return el("p", { id, className: "broker-note" }, [
      `${broker.name} needs the premium tier; you can try Tradewire on the paper broker meanwhile. `,
      el("a", { href: "/account/", textContent: "How to upgrade" }),
    ]);
  }
  return null;
}

const BADGES = { connected: "Connected", unavailable: "Unavailable", premium: "Premium" };

function card(broker) {
  const state = cardState(broker);
  const assets = broker.asset_classes.map((a) => ASSETS[a] || a).join(", ");
  const button = el("button", { type: "button", className: "broker-choice" }, [
    el("span", { className: "broker-name", textContent: broker.name }),
  ]);
  button.dataset.broker = broker.key;
  if (BADGES[state]) button.append(" ", el("span", { className: "badge", textContent: BADGES[state] }));
  button.append(" ", el("span", { className: "broker-meta", textContent: `${assets} · ${AUTH[broker.auth] || broker.auth} · ${modeSummary(broker)}` }));
  const note = cardNote(broker, state);
  if (note) {
    // aria-disabled keeps the card focusable, so its explanation is read out.
    button.setAttribute("aria-disabled", "true");
    button.setAttribute("aria-describedby", note.id);
  }
  const item = el("li", { className: "card broker-card" }, note ? [button, note] : [button]);
  item.dataset.state = state;
  return item;
}

const ORDER = ["available", "connected", "premium", "unavailable"];

function renderCards() {
  // What the person can pick now comes first; otherwise the registry's order.
  const sorted = [...brokers.values()].sort((a, b) => ORDER.indexOf(cardState(a)) - ORDER.indexOf(cardState(b)));
  cards.replaceChildren(...sorted.map(card));
  cards.removeAttribute("aria-busy");
}

async function load() {
  const loadError = $('[data-testid="brokers-error"]', root);
  try {
    const [supported, configured] = await Promise.all([
      api("/api/brokers/supported"),
      // Without the list the cards cannot say "Connected"; saving would still explain a 409.
      api("/api/brokers/user/configured").catch(() => []),
    ]);
    brokers = new Map(supported.map((b) => [b.key, b]));
    connected = new Set(configured.map((c) => c.broker));
    loadError.hidden = true;
    renderCards();
    route({ focus: false });
  } catch {
    const retry = el("button", { type: "button", textContent: "Try again" });
    retry.addEventListener("click", () => load());
    loadError.replaceChildren("Couldn't load the list of brokers. ", retry);
    loadError.hidden = false;
  }
}

// --- step 2: the credentials form ----------------------------------------------------------

function describe(input, helpId, errorId) {
  input.setAttribute("aria-describedby", errorId ? `${helpId} ${errorId}` : helpId);
}

function credentialField(field) {
  const id = `cred-${field.name}`;
  const input = el("input", {
    id,
    name: field.name,
    type: field.secret ? "password" : "text",
    autocomplete: "off",
    spellcheck: false,
    required: field.required,
    value: field.default || "",
  });
  input.setAttribute("autocapitalize", "off");
  input.dataset.credential = field.name;
  describe(input, `${id}-help`);
  const help = `${field.required ? "" : "Optional. "}${field.help || ""}`.trim();
  return el("div", { className: "field" }, [
    el("label", { htmlFor: id, textContent: field.label }),
    input,
    el("p", { className: "help", id: `${id}-help`, textContent: help }),
    el("p", { className: "field-error", id: `${id}-error`, hidden: true }),
  ]);
}

const MODE_HELP = {
  "paper,live": "Paper uses the broker's practice account; Live trades real money. Paper and live credentials usually differ.",
  paper: "Simulated trading with play money; nothing leaves Tradewire.",
  live: "This broker has no paper trading: the connection trades real money.",
};

function modeChoices(broker) {
  const list = modes(broker);
  const radios = list.map((mode, index) => {
    const input = el("input", { type: "radio", name: "mode", value: mode, id: `connect-mode-${mode}`, checked: index === 0 });
    return el("label", { className: "choice", htmlFor: input.id }, [input, ` ${mode === "paper" ? "Paper" : "Live"}`]);
  });
  $('[data-slot="mode-choices"]', form).replaceChildren(...radios);
  $('[data-slot="mode-help"]', form).textContent = MODE_HELP[list.join(",")] || "";
  $('[data-slot="mode"]', form).setAttribute("aria-describedby", "connect-mode-help");
}

const INTRO = {
  api_key: (b) => `Create an API key at ${b.name} and paste it below. Test the connection first if you like; saving tests it too.`,
  gateway: (b) => `Tradewire connects to the ${b.name} gateway you run. Start it and allow API connections from this server before testing.`,
  oauth: (b) => `Enter your app's key and secret, then continue to ${b.short_name} to approve access; you come back here when it is done.`,
  none: (b) => `The ${b.name} simulates a market with play money: nothing to fill in. Choose a label if you like and save.`,
};

function renderIntro(broker) {
  const intro = $('[data-slot="intro"]', steps.credentials);
  intro.replaceChildren((INTRO[broker.auth] || INTRO.api_key)(broker));
  if (broker.docs_url) {
    const docs = el("a", { href: broker.docs_url, target: "_blank", rel: "noopener noreferrer", textContent: `${broker.name} API documentation (opens in a new tab)` });
    intro.append(" ", docs);
  }
}

function buildForm(broker) {
  $("#step-credentials-title").textContent = `Step 2 of 2: Connect ${broker.name}`;
  renderIntro(broker);
  $('[data-slot="credentials"]', form).replaceChildren(...broker.credential_fields.map(credentialField));
  modeChoices(broker);
  label.value = "";
  label.placeholder = broker.name;
  const oauth = broker.auth === "oauth";
  testButton.hidden = oauth; // an OAuth app can only be tested once the person has approved it
  saveButton.textContent = oauth ? `Continue to ${broker.short_name}` : "Save connection";
  clearErrors();
  clearResult();
}

function values() {
  const credentials = {};
  for (const input of form.querySelectorAll("[data-credential]")) credentials[input.name] = input.value;
  const mode = $('input[name="mode"]:checked', form);
  return { broker: current.key, credentials, paper: mode ? mode.value === "paper" : false, label: label.value.trim() };
}

function context(body) {
  return { paper: body.paper, host: body.credentials.host, port: body.credentials.port };
}

// --- errors and results --------------------------------------------------------------------

/** Where the API's field key ("credentials.api_key_id", "paper", "label") is shown. */
function fieldTarget(key) {
  if (key.startsWith("credentials.")) {
    const input = form.querySelector(`[data-credential="${CSS.escape(key.slice(12))}"]`);
    return input && { input, error: $(`#${input.id}-error`, form), help: `${input.id}-help` };
  }
  if (key === "paper") return { input: $('[data-slot="mode"]', form), error: $("#connect-mode-error", form), help: "connect-mode-help" };
  if (key === "label") return { input: label, error: $("#connect-label-error", form), help: "connect-label-help" };
  return null;
}

function setFieldError(target, text) {
  target.error.textContent = text;
  target.error.hidden = !text;
  if (text) target.input.setAttribute("aria-invalid", "true");
  else target.input.removeAttribute("aria-invalid");
  describe(target.input, target.help, text ? target.error.id : null);
}

function clearErrors() {
  const credentials = [...form.querySelectorAll("[data-credential]")].map((input) => `credentials.${input.name}`);
  for (const key of [...credentials, "paper", "label"]) setFieldError(fieldTarget(key), "");
  formError.hidden = true;
  formError.replaceChildren();
}

/** Field errors next to their fields; returns the messages that belong to no field. */
function showFieldErrors(error) {
  const rest = [];
  let first = null;
  for (const [key, messages] of Object.entries(error.fields || {})) {
    const target = fieldTarget(key);
    const text = [].concat(messages).join(" ");
    if (!target) {
      rest.push(text);
      continue;
    }
    setFieldError(target, text);
    first = first || target.input;
  }
  return { rest, first };
}

function clearResult() {
  result.replaceChildren();
  delete result.dataset.state;
}

function setBusy(busy) {
  form.setAttribute("aria-busy", String(busy));
  testButton.disabled = busy;
  saveButton.disabled = busy;
}

async function testConnection() {
  clearErrors();
  const body = values();
  result.dataset.state = "pending";
  result.textContent = `Testing the connection to ${current.name}…`;
  setBusy(true);
  try {
    const { account } = await api("/api/brokers/test", { method: "POST", body });
    result.dataset.state = "ok";
    result.textContent = `Connected to ${current.name}: account ${account.id} (${account.currency}, ${account.paper ? "paper" : "live"}).`;
  } catch (error) {
    const { rest } = showFieldErrors(error);
    result.dataset.state = "error";
    showMessage(result, brokerErrorMessage(error, current, context(body)));
    if (rest.length) result.append(` ${rest.join(" ")}`);
  } finally {
    setBusy(false);
  }
}

async function save(event) {
  event.preventDefault();
  clearErrors();
  clearResult();
  const body = values();
  setBusy(true);
  try {
    const connection = await api("/api/brokers/configure", { method: "POST", body });
    if (connection.authorize_url) {
      window.location.assign(connection.authorize_url);
      return; // stay busy while the browser leaves
    }
    sessionStorage.setItem(FLASH_KEY, `${body.label || current.name} connected.`);
    window.location.assign("/brokers/");
  } catch (error) {
    const { rest, first } = showFieldErrors(error);
    showMessage(formError, brokerErrorMessage(error, current, context(body)));
    if (rest.length) formError.append(` ${rest.join(" ")}`);
    formError.hidden = false;
    // A secret is never kept in the page after a failed save; the typed key ids and hosts are.
    for (const input of form.querySelectorAll('[data-credential][type="password"]')) input.value = "";
    setBusy(false);
    if (first) first.focus();
  }
}

// --- steps -----------------------------------------------------------------------------------

function show(step, { focus }) {
  for (const [name, section] of Object.entries(steps)) section.hidden = name !== step;
  if (focus) $("h2", steps[step]).focus();
}

function choose(key, { push, focus }) {
  const broker = brokers.get(key);
  if (!broker || cardState(broker) !== "available") return false;
  if (current?.key !== key) buildForm(broker);
  current = broker;
  if (push) history.pushState({ broker: key }, "", `?broker=${encodeURIComponent(key)}`);
  show("credentials", { focus });
  return true;
}

function route({ focus }) {
  const key = new URLSearchParams(location.search).get("broker");
  if (key && choose(key, { push: false, focus })) return;
  if (key) history.replaceState(null, "", location.pathname);
  show("choose", { focus });
}

function back() {
  if (steps.credentials.hidden) {
    window.location.assign("/brokers/");
  } else if (history.state?.broker) {
    history.back(); // popstate brings step 1 back
  } else {
    history.pushState(null, "", location.pathname);
    show("choose", { focus: true });
  }
}

cards.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-broker]");
  if (button && button.getAttribute("aria-disabled") !== "true") choose(button.dataset.broker, { push: true, focus: true });
});
for (const button of root.querySelectorAll('[data-action="back"]')) button.addEventListener("click", back);
testButton.addEventListener("click", testConnection);
form.addEventListener("submit", save);
form.addEventListener("input", (event) => {
  // A result or an error about values the person has since changed would mislead.
  if (result.dataset.state !== "pending") clearResult();
  const key = event.target.dataset.credential ? `credentials.${event.target.name}` : event.target.name === "mode" ? "paper" : event.target.name;
  const target = fieldTarget(key);
  if (target) setFieldError(target, "");
});
window.addEventListener("popstate", () => route({ focus: true }));

load();
