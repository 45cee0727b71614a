// The brokers page: the user's connections (GET /api/brokers/user/configured), each with its
// health and last balance, a "Re-test" that asks the broker now (?refresh=1), "Re-authorise" for
// a connection waiting for its sign-in, and a confirmed "Disconnect". A status change pushed by
// `portfolio:update` re-reads the list (shell.js toasts it on every page).
import { EVENTS } from "/js/events.js";
import { api, money } from "./api.js";
import { el } from "./dom.js";
import { FLASH_KEY, brokerErrorMessage, showMessage } from "./broker_messages.js";
import { failingText, loginText, reauthorizeForm } from "./connection_health.js";
import { pageClient } from "./realtime.js";
import { toast } from "./toasts.js";

const $ = (selector, root = document) => root.querySelector(selector);
const page = $('[data-testid="brokers-page"]');
const list = $('[data-testid="broker-list"]', page);
const empty = $('[data-testid="brokers-empty"]', page);
const loadError = $('[data-testid="brokers-error"]', page);
const dialog = $('[data-testid="disconnect-dialog"]', page);
const dialogError = $('[data-slot="dialog-error"]', dialog);
const confirmButton = $('[data-action="confirm-disconnect"]', dialog);

const STATUS = { connected: "Connected", pending_authorization: "Needs sign-in", error: "Error", disabled: "Disabled" };
const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

let specs = new Map(); // broker key → its /api/brokers/supported entry
const connections = new Map(); // broker key → its /api/brokers/user/configured entry
let pendingDisconnect = null;

function specFor(key) {
  return specs.get(key) || { key, name: key, auth: "api_key", credential_fields: [], paper_trading: false };
}

function timeElement(iso) {
  if (!iso) return "Never";
  return el("time", { dateTime: iso, title: iso, textContent: timeFormat.format(new Date(iso)) });
}

const field = (row, name) => $(`[data-field="${name}"]`, row);

function figure(term, name) {
  const value = el("dd", { textContent: "—" });
  value.dataset.field = name;
  return el("div", {}, [el("dt", { textContent: term }), value]);
}

function rowFor(connection) {
  const spec = specFor(connection.broker);
  const titleId = `connection-${connection.broker}-title`;
  const title = el("h2", { id: titleId, textContent: connection.label || spec.name });
  if (connection.label && connection.label !== spec.name) title.append(" ", el("span", { className: "muted", textContent: `(${spec.name})` }));
  const status = el("span", { className: "status" });
  status.dataset.field = "status";
  const lastError = el("p", { className: "connection-error", hidden: true });
  lastError.dataset.field = "last_error";
  const failing = el("p", { className: "connection-health", hidden: true });
  failing.dataset.field = "failing_since";
  const login = el("p", { className: "connection-health", hidden: true });
  login.dataset.field = "auth_expires_at";
  const result = el("p", { className: "retest-result" });
  result.setAttribute("role", "status");
  result.dataset.testid = "retest-result";
  const retest = el("button", { type: "button", textContent: "Re-test" });
  const disconnect = el("button", { type: "button", className: "danger", textContent: "Disconnect" });
  for (const button of [retest, disconnect]) button.setAttribute("aria-describedby", titleId);
  retest.dataset.action = "retest";
  disconnect.dataset.action = "disconnect";
  const row = el("li", { className: "card connection" }, [
    el("div", { className: "connection-head" }, [title, status]),
    el("dl", { className: "figures connection-figures" }, [
      figure("Equity", "equity"),
      figure("Balance as of", "as_of"),
      figure("Last check", "last_checked_at"),
      figure("Last successful call", "last_success_at"),
      figure("Failures in a row", "consecutive_failures"),
      figure("Mode", "mode"),
      figure("Credentials", "credential_hint"),
    ]),
    failing,
    login,
    lastError,
    result,
    el("div", { className: "actions" }, [el("span", { className: "reauthorize-slot", hidden: true }), retest, disconnect]),
  ]);
  row.dataset.broker = connection.broker;
  row.setAttribute("aria-labelledby", titleId);
  renderConnection(row, connection);
  return row;
}

function hintText(connection, spec) {
  if (connection.credential_hint) return `Key ending in ${connection.credential_hint}`;
  return spec.auth === "none" ? "None needed" : "Stored encrypted";
}

function renderConnection(row, connection) {
  connections.set(connection.broker, connection);
  const status = field(row, "status");
  status.dataset.status = connection.status;
  status.textContent = STATUS[connection.status] || connection.status;
  field(row, "last_checked_at").replaceChildren(timeElement(connection.last_checked_at));
  field(row, "last_success_at").replaceChildren(timeElement(connection.last_success_at));
  field(row, "consecutive_failures").textContent = String(connection.consecutive_failures ?? 0);
  renderHealth(row, connection, specFor(connection.broker));
  field(row, "mode").textContent = connection.paper ? "Paper" : "Live";
  field(row, "credential_hint").textContent = hintText(connection, specFor(connection.broker));
  const lastError = field(row, "last_error");
  const failing = connection.status !== "connected" && connection.last_error;
  lastError.textContent = failing ? `Last error: ${connection.last_error}` : "";
  lastError.hidden = !failing;
}

function renderHealth(row, connection, spec) {
  for (const [name, text] of [["failing_since", failingText(connection, spec)], ["auth_expires_at", loginText(connection, spec)]]) {
    field(row, name).textContent = text;
    field(row, name).hidden = !text;
  }
  const slot = $(".reauthorize-slot", row);
  const needsSignIn = connection.status === "pending_authorization" && spec.auth === "oauth";
  slot.replaceChildren(...(needsSignIn ? [reauthorizeForm(connection, spec)] : []));
  slot.hidden = !needsSignIn;
  $('[data-action="retest"]', row).hidden = needsSignIn; // only signing in again can mend it
}

function renderBalance(row, balance) {
  const equity = field(row, "equity");
  const asOf = field(row, "as_of");
  if (!balance) {
    equity.textContent = "—";
    asOf.textContent = "—";
    return;
  }
  equity.textContent = money(balance.equity, balance.currency);
  asOf.replaceChildren(timeElement(balance.as_of));
  if (balance.stale) asOf.append(" ", el("span", { className: "badge stale", textContent: "Stale" }));
}

// A connection waiting for its sign-in has no working login: asking the broker cannot succeed.
const signedOut = (key) => ["pending_authorization", "disabled"].includes(connections.get(key)?.status);

async function loadBalance(row, key) {
  if (signedOut(key)) {
    renderBalance(row, null);
    return;
  }
  try {
    renderBalance(row, await api(`/api/brokers/user/${encodeURIComponent(key)}/balance`));
  } catch {
    renderBalance(row, null); // the status and last error already say why
  }
}

function showEmptyState() {
  const none = list.children.length === 0;
  empty.hidden = !none;
  $('[data-slot="add"]', page).hidden = none;
}

async function load() {
  try {
    const [supported, configured] = await Promise.all([
      api("/api/brokers/supported").catch(() => []), // names only; keys stand in without them
      api("/api/brokers/user/configured"),
    ]);
    specs = new Map(supported.map((spec) => [spec.key, spec]));
    loadError.hidden = true;
    list.replaceChildren(...configured.map(rowFor));
    showEmptyState();
    await Promise.all(configured.map((c) => loadBalance($(`[data-broker="${CSS.escape(c.broker)}"]`, list), c.broker)));
  } catch {
    const retry = el("button", { type: "button", textContent: "Try again" });
    retry.addEventListener("click", () => load());
    loadError.replaceChildren("Couldn't load your connections. ", retry);
    loadError.hidden = false;
  } finally {
    $('[data-slot="loading"]', page).hidden = true;
  }
}

/** The server's view of one connection after a check (status, last check, last error). */
async function reloadConnection(row, key) {
  try {
    const configured = await api("/api/brokers/user/configured");
    const connection = configured.find((c) => c.broker === key);
    if (connection) renderConnection(row, connection);
  } catch {
    // The re-test result already says what happened; the row keeps its last known state.
  }
}

async function retest(row) {
  const key = row.dataset.broker;
  const spec = specFor(key);
  const name = connections.get(key)?.label || spec.name;
  const button = $('[data-action="retest"]', row);
  const result = $('[data-testid="retest-result"]', row);
  button.disabled = true;
  result.dataset.state = "pending";
  result.textContent = `Checking ${name}…`;
  try {
    const balance = await api(`/api/brokers/user/${encodeURIComponent(key)}/balance?refresh=1`);
    renderBalance(row, balance);
    result.dataset.state = "ok";
    result.textContent = `Connected: ${name} reports equity of ${money(balance.equity, balance.currency)}.`;
  } catch (error) {
    result.dataset.state = "error";
    showMessage(result, brokerErrorMessage(error, spec, { stored: true, paper: connections.get(key)?.paper }));
  } finally {
    await reloadConnection(row, key);
    button.disabled = false;
  }
}

function askDisconnect(row) {
  const key = row.dataset.broker;
  pendingDisconnect = { row, key, name: connections.get(key)?.label || specFor(key).name };
  $("#disconnect-title", dialog).textContent = `Disconnect ${pendingDisconnect.name}?`;
  dialogError.hidden = true;
  dialogError.replaceChildren();
  dialog.showModal();
}

/** After a row leaves, focus goes to a neighbour's first button, or to the empty state's link. */
function removeRow(row) {
  const neighbour = row.nextElementSibling || row.previousElementSibling;
  connections.delete(row.dataset.broker);
  row.remove();
  showEmptyState();
  const target = neighbour ? $("button", neighbour) : $("a", empty);
  target.focus();
}

async function confirmDisconnect(event) {
  event.preventDefault(); // the dialog stays open until the API has answered
  const { row, key, name } = pendingDisconnect;
  confirmButton.disabled = true;
  try {
    await api(`/api/brokers/user/${encodeURIComponent(key)}`, { method: "DELETE" });
  } catch (error) {
    if (error.status !== 404) {
      // A 404 means it is already gone (another tab); anything else leaves it connected.
      showMessage(dialogError, brokerErrorMessage(error, specFor(key)));
      dialogError.hidden = false;
      return;
    }
  } finally {
    confirmButton.disabled = false;
  }
  dialog.close("disconnected");
  removeRow(row);
  toast("success", `${name} disconnected.`);
}

list.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const row = button.closest("li[data-broker]");
  if (button.dataset.action === "retest") retest(row);
  else if (button.dataset.action === "disconnect") askDisconnect(row);
});
confirmButton.addEventListener("click", confirmDisconnect);

/** Rows for what the server has now: changed ones re-rendered, new ones added, gone ones removed. */
async function refreshRows() {
  const configured = await api("/api/brokers/user/configured");
  const keys = new Set(configured.map((c) => c.broker));
  for (const row of [...list.children]) if (!keys.has(row.dataset.broker)) row.remove();
  for (const connection of configured) {
    const row = $(`[data-broker="${CSS.escape(connection.broker)}"]`, list);
    if (row) renderConnection(row, connection);
    else {
      list.append(rowFor(connection));
      loadBalance(list.lastElementChild, connection.broker);
    }
  }
  showEmptyState();
}

// A connection that changed status (pushed with the portfolio) or appeared: show what the server says now.
pageClient().on(EVENTS.PORTFOLIO_UPDATE, (portfolio) => {
  const changed = (b) => !connections.has(b.broker) || connections.get(b.broker).status !== b.status;
  if (portfolio.brokers.some(changed)) refreshRows().catch(() => {}); // the next update tries again
});

const flash = sessionStorage.getItem(FLASH_KEY);
if (flash) {
  sessionStorage.removeItem(FLASH_KEY);
  toast("success", flash);
}
load();
