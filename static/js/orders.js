// The orders page: an order ticket shaped by the chosen broker's capabilities, and the order
// history of every configured broker, kept current by trade events and by polling open orders
// (submitted/canceled changes send no event).
import { ApiError, api } from "./api.js";
import { capitalise } from "./dom.js";
import { pageClient } from "./realtime.js";
import { showTrades } from "./trades.js";

const POLL_MS = 3000;
const OPEN = new Set(["pending", "submitted", "partially_filled", "unknown"]);
const TYPE_LABELS = { market: "Market", limit: "Limit", stop: "Stop", stop_limit: "Stop limit" };
const TIF_LABELS = { day: "Day", gtc: "Good till canceled", ioc: "Immediate or cancel", fok: "Fill or kill" };
const TYPE_NEEDS = { market: [], limit: ["limit"], stop: ["stop"], stop_limit: ["limit", "stop"] };
// API field name (nested ones as "parent.child"; "" is the parent's own error) → ticket input id.
const FIELD_INPUTS = {
  broker: "ticket-broker",
  symbol: "ticket-symbol",
  side: "ticket-side",
  type: "ticket-type",
  qty: "ticket-qty",
  limit_price: "ticket-limit-price",
  stop_price: "ticket-stop-price",
  time_in_force: "ticket-tif",
  take_profit: { "": "ticket-tp-limit", limit_price: "ticket-tp-limit" },
  stop_loss: { "": "ticket-sl-stop", stop_price: "ticket-sl-stop", limit_price: "ticket-sl-limit" },
};

const $ = (selector, root = document) => root.querySelector(selector);
const form = $("form.ticket");
const formError = $(".form-error", form);
const tbody = $('[data-testid="orders"] tbody');
const listError = $('[data-testid="orders-error"]');

const state = {
  specs: new Map(), // broker key → entry of /api/brokers/supported
  historyBrokers: [], // every configured broker, whatever its status
  orders: new Map(), // order id → order
  canceling: new Set(),
  filter: "all",
  clientOrderId: null, // kept across retries of one ticket submission
  pollTimer: null,
};

const words = (value) => String(value).replaceAll("_", " ");
const isOpen = (order) => OPEN.has(order.status);
const newest = (a, b) => Date.parse(b.created_at) - Date.parse(a.created_at);

function newClientOrderId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  const hex = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

// --- ticket -------------------------------------------------------------------------------

function brokerOption(connection) {
  const name = state.specs.get(connection.broker)?.name || connection.broker;
  const label = connection.label && connection.label !== name ? `${name} (${connection.label})` : name;
  return new Option(label, connection.broker);
}

function applyBroker() {
  const spec = state.specs.get($("#ticket-broker").value);
  const type = $("#ticket-type");
  const previous = type.value;
  type.replaceChildren(...spec.order_types.map((t) => new Option(TYPE_LABELS[t] || words(t), t)));
  if (spec.order_types.includes(previous)) type.value = previous;
  $('[data-needs="bracket"]', form).hidden = !spec.bracket || spec.bracket === "none";
  applyBracketLegs(spec.capabilities || {});
  applyType();
}

// Some brokers take both exits or neither, and set the stop-loss limit themselves (Coinbase).
function applyBracketLegs(capabilities) {
  const both = capabilities.bracket_legs === "both";
  $("#ticket-bracket-legend").textContent = both
    ? "Take-profit and stop-loss (optional, both or neither)"
    : "Take-profit and stop-loss (optional)";
  const limitField = $("#ticket-sl-limit-field");
  limitField.hidden = capabilities.stop_loss_limit === false;
  if (limitField.hidden) $("#ticket-sl-limit").value = "";
}

// Only what the broker takes for this order type; "" (the broker's default) leaves the field out of the order.
function applyTimeInForce(spec, type) {
  const select = $("#ticket-tif");
  const previous = select.value;
  const capabilities = spec.capabilities || {};
  const allowed = capabilities.time_in_force_by_type?.[type] || capabilities.time_in_force || [];
  const fallback = allowed.length ? ` (${TIF_LABELS[allowed[0]] || allowed[0]})` : "";
  select.replaceChildren(new Option(`Broker default${fallback}`, ""), ...allowed.map((t) => new Option(TIF_LABELS[t] || t, t)));
  if (allowed.includes(previous)) select.value = previous;
}

function applyType() {
  const type = $("#ticket-type").value;
  applyTimeInForce(state.specs.get($("#ticket-broker").value), type);
  const needs = TYPE_NEEDS[type] || [];
  for (const field of form.querySelectorAll(".field[data-needs]")) field.hidden = !needs.includes(field.dataset.needs);
}

const shown = (id) => !document.getElementById(id).closest("[hidden]");
const valueOf = (id) => document.getElementById(id).value.trim();

function ticketBody() {
  const body = {
    symbol: valueOf("ticket-symbol"),
    side: valueOf("ticket-side"),
    type: valueOf("ticket-type"),
  };
  if (valueOf("ticket-tif")) body.time_in_force = valueOf("ticket-tif");
  const optional = { qty: "ticket-qty", limit_price: "ticket-limit-price", stop_price: "ticket-stop-price" };
  for (const [name, id] of Object.entries(optional)) if (shown(id) && valueOf(id)) body[name] = valueOf(id);
  if (shown("ticket-tp-limit") && valueOf("ticket-tp-limit")) body.take_profit = { limit_price: valueOf("ticket-tp-limit") };
  if (shown("ticket-sl-stop") && (valueOf("ticket-sl-stop") || valueOf("ticket-sl-limit"))) {
    body.stop_loss = {};
    if (valueOf("ticket-sl-stop")) body.stop_loss.stop_price = valueOf("ticket-sl-stop");
    if (valueOf("ticket-sl-limit")) body.stop_loss.limit_price = valueOf("ticket-sl-limit");
  }
  return body;
}

// --- ticket errors ------------------------------------------------------------------------

function clearErrors() {
  formError.hidden = true;
  formError.replaceChildren();
  for (const p of form.querySelectorAll(".field-error")) p.remove();
  for (const input of form.querySelectorAll('[aria-invalid="true"]')) {
    input.removeAttribute("aria-invalid");
    const rest = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== `${input.id}-error`);
    if (rest.length) input.setAttribute("aria-describedby", rest.join(" "));
    else input.removeAttribute("aria-describedby");
  }
}

function showFormError(text, link) {
  formError.textContent = text;
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.text;
    formError.append(" ", a);
  }
  formError.hidden = false;
}

// The API flattens a nested serializer's errors into its parent, as "limit_price: message".
function fieldTarget(name, message) {
  const [parent, child] = name.split(".", 2);
  const target = FIELD_INPUTS[parent];
  if (typeof target !== "object") return [target, message];
  const match = /^(\w+): (.*)$/s.exec(message);
  if (!child && match && match[1] in target) return [target[match[1]], match[2]];
  return [target[child || ""] || target[""], message];
}

function showFieldError(inputId, text) {
  const input = inputId && document.getElementById(inputId);
  if (!input || !shown(inputId)) return false;
  const id = `${inputId}-error`;
  let p = document.getElementById(id);
  if (!p) {
    p = document.createElement("p");
    p.className = "field-error";
    p.id = id;
    input.closest(".field").append(p);
    const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    input.setAttribute("aria-describedby", [...described, id].join(" "));
  }
  p.textContent = p.textContent ? `${p.textContent} ${text}` : text;
  input.setAttribute("aria-invalid", "true");
  return true;
}

function showInvalid(error) {
  const leftover = [];
  for (const [name, messages] of Object.entries(error.fields)) {
    for (const message of [].concat(messages)) {
      const [inputId, text] = fieldTarget(name, message);
      if (!showFieldError(inputId, text)) leftover.push(message);
    }
  }
  showFormError(leftover.length ? leftover.join(" ") : "Check the highlighted fields.");
  $('[aria-invalid="true"]', form)?.focus();
}

function showPlaceError(error) {
  if (!(error instanceof ApiError)) {
    showFormError("Could not reach Tradewire, so the order may or may not have been placed. Press “Place order” again to retry: it will not be placed twice.");
  } else if (error.code === "invalid" && Object.keys(error.fields).length) {
    showInvalid(error);
  } else if (error.code === "rate_limited" && error.retryAfter) {
    showFormError(`${error.message} Try again in ${error.retryAfter} s.`);
  } else if (error.code === "kill_switch_engaged") {
    showFormError(
      "Order refused: the kill switch is engaged, so only orders that reduce a position are accepted. Release it from the header to trade again.",
    );
  } else if (error.code === "premium_required") {
    showFormError(error.message, { href: "/account/", text: "How to get premium" });
  } else {
    showFormError(error.message);
  }
}

// Only an answer that says the order was not taken ends a submission; anything ambiguous
// (no answer, a server error) keeps the id, so pressing again cannot place it twice.
const definitive = (error) => error instanceof ApiError && error.status !== 500 && error.code !== "error";

// --- placing -----------------------------------------------------------------------------

function resetAmounts() {
  for (const id of ["ticket-qty", "ticket-limit-price", "ticket-stop-price", "ticket-tp-limit", "ticket-sl-stop", "ticket-sl-limit"]) {
    document.getElementById(id).value = "";
  }
}

async function placeOrder(event) {
  event.preventDefault();
  const button = $('button[type="submit"]', form);
  const result = $('[data-testid="ticket-result"]');
  clearErrors();
  result.textContent = "";
  state.clientOrderId ||= newClientOrderId();
  const broker = valueOf("ticket-broker");
  button.disabled = true;
  try {
    const order = await api(`/api/brokers/user/${encodeURIComponent(broker)}/orders`, {
      method: "POST",
      body: { ...ticketBody(), client_order_id: state.clientOrderId },
    });
    state.clientOrderId = null;
    upsertOrder(order);
    resetAmounts();
    result.textContent = `Order placed: ${capitalise(order.side)} ${order.qty} ${order.symbol}, ${words(order.status)}.`;
  } catch (error) {
    if (definitive(error)) state.clientOrderId = null;
    if (error instanceof ApiError && error.code === "duplicate_order") loadHistory().catch(() => {});
    showPlaceError(error);
  } finally {
    button.disabled = false;
  }
}

// --- history -----------------------------------------------------------------------------

function cell(field, className) {
  const td = document.createElement("td");
  td.dataset.field = field;
  if (className) td.className = className;
  return td;
}

function buildRow(order) {
  const row = document.createElement("tr");
  row.dataset.orderId = order.id;
  const status = document.createElement("td");
  status.innerHTML = '<span class="status" data-field="status"></span><small class="order-error" data-field="error"></small>';
  const actions = document.createElement("td");
  actions.className = "actions";
  const described = (field, className) => Object.assign(cell(field, className), { id: `order-${order.id}-${field}` });
  row.append(
    cell("created_at"), cell("broker"), described("symbol"), described("side", "cap"), described("type", "cap"), described("qty", "num"),
    cell("price", "num"), status, cell("filled_qty", "num"), cell("avg_fill_price", "num"), cell("fee", "num"), actions,
  );
  return row;
}

function priceText(order) {
  const parts = [];
  if (order.limit_price) parts.push(`limit ${order.limit_price}`);
  if (order.stop_price) parts.push(`stop ${order.stop_price}`);
  if (order.take_profit) parts.push(`TP ${order.take_profit.limit_price}`);
  if (order.stop_loss) parts.push(`SL ${order.stop_loss.stop_price}${order.stop_loss.limit_price ? `/${order.stop_loss.limit_price}` : ""}`);
  return parts.join(" · ") || "market";
}

function createdCell(td, iso) {
  const time = document.createElement("time");
  time.dateTime = iso;
  time.textContent = new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "medium" });
  td.replaceChildren(time);
}

function cancelButton(order) {
  const button = document.createElement("button");
  button.type = "button";
  const canceling = state.canceling.has(order.id);
  button.textContent = canceling ? "Canceling…" : "Cancel";
  // Screen readers hear which order: "Cancel — buy 2 AAPL limit".
  button.setAttribute("aria-describedby", ["side", "qty", "symbol", "type"].map((f) => `order-${order.id}-${f}`).join(" "));
  button.disabled = canceling;
  button.addEventListener("click", () => cancelOrder(order.id));
  return button;
}

function fillRow(row, order) {
  const text = (field, value) => ($(`[data-field="${field}"]`, row).textContent = value ?? "—");
  row.dataset.status = order.status;
  createdCell($('[data-field="created_at"]', row), order.created_at);
  text("broker", state.specs.get(order.broker)?.name || order.broker);
  text("symbol", order.symbol);
  text("side", order.side);
  text("type", words(order.type));
  text("qty", order.qty);
  text("price", priceText(order));
  text("status", words(order.status));
  $('[data-field="status"]', row).dataset.status = order.status;
  text("error", order.error ? order.error.message : "");
  text("filled_qty", order.filled_qty);
  text("avg_fill_price", order.avg_fill_price);
  text("fee", order.fee);
  $("td.actions", row).replaceChildren(...(isOpen(order) ? [cancelButton(order)] : []));
  row.hidden = !matchesFilter(order);
}

function insertRow(row, order) {
  const last = tbody.lastElementChild;
  if (!last || newest(state.orders.get(last.dataset.orderId), order) <= 0) {
    tbody.append(row); // the initial load arrives newest first
    return;
  }
  for (const other of tbody.children) {
    if (newest(state.orders.get(other.dataset.orderId), order) > 0) {
      tbody.insertBefore(row, other);
      return;
    }
  }
  tbody.append(row);
}

// Add or update one order; an answer older than what the row shows is ignored (poll vs event races).
function upsertOrder(order) {
  const known = state.orders.get(order.id);
  if (known && Date.parse(known.updated_at) > Date.parse(order.updated_at)) return;
  state.orders.set(order.id, order);
  if (!isOpen(order)) state.canceling.delete(order.id);
  let row = tbody.querySelector(`tr[data-order-id="${CSS.escape(order.id)}"]`);
  if (!row) {
    row = buildRow(order);
    insertRow(row, order);
  }
  fillRow(row, order);
  updateEmpty();
  schedulePoll();
}

function matchesFilter(order) {
  if (state.filter === "open") return isOpen(order);
  if (state.filter === "closed") return !isOpen(order);
  return true;
}

function applyFilter() {
  for (const row of tbody.children) row.hidden = !matchesFilter(state.orders.get(row.dataset.orderId));
  updateEmpty();
}

function updateEmpty() {
  const empty = $('[data-testid="orders-empty"]');
  empty.hidden = [...tbody.children].some((row) => !row.hidden);
  empty.textContent = state.orders.size ? "No orders match this filter." : "No orders yet.";
}

async function loadHistory() {
  const path = (broker) => `/api/brokers/user/${encodeURIComponent(broker)}/orders?status=all`;
  const lists = await Promise.all(state.historyBrokers.map((broker) => api(path(broker))));
  for (const order of lists.flat().sort(newest)) upsertOrder(order);
  updateEmpty();
}

function showListError(text) {
  listError.textContent = text;
  listError.hidden = !text;
}

async function refreshOrder(id) {
  try {
    upsertOrder(await api(`/api/orders/${encodeURIComponent(id)}`));
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
  }
}

async function cancelOrder(id) {
  showListError("");
  state.canceling.add(id);
  fillRow(tbody.querySelector(`tr[data-order-id="${CSS.escape(id)}"]`), state.orders.get(id));
  try {
    upsertOrder(await api(`/api/orders/${encodeURIComponent(id)}`, { method: "DELETE" }));
  } catch (error) {
    state.canceling.delete(id);
    const order = state.orders.get(id);
    showListError(
      error instanceof ApiError
        ? `Could not cancel ${capitalise(order.side)} ${order.qty} ${order.symbol}: ${error.message}`
        : "Could not reach Tradewire to cancel; try again.",
    );
    await refreshOrder(id).catch(() => {});
  }
}

// --- polling -----------------------------------------------------------------------------

function schedulePoll() {
  if (state.pollTimer || ![...state.orders.values()].some(isOpen)) return;
  state.pollTimer = setTimeout(poll, POLL_MS);
}

async function refreshOpen() {
  const open = [...state.orders.values()].filter(isOpen);
  const brokers = [...new Set(open.map((order) => order.broker))];
  const path = (broker) => `/api/brokers/user/${encodeURIComponent(broker)}/orders?status=open`;
  const lists = await Promise.all(brokers.map((broker) => api(path(broker))));
  const stillOpen = new Set();
  for (const order of lists.flat()) {
    stillOpen.add(order.id);
    upsertOrder(order);
  }
  // An order that left the open list was filled, canceled or failed: read its final state.
  await Promise.all(open.filter((order) => !stillOpen.has(order.id)).map((order) => refreshOrder(order.id)));
}

async function poll() {
  state.pollTimer = null;
  if (!document.hidden) {
    try {
      await refreshOpen();
    } catch {
      // A missed poll is retried at the next tick; the connection badge tells the user more.
    }
  }
  schedulePoll();
}

// --- start -------------------------------------------------------------------------------

function showTicket(connected) {
  $('[data-testid="ticket-loading"]').hidden = true;
  if (!connected.length) {
    $('[data-testid="no-brokers"]').hidden = false;
    return;
  }
  $("#ticket-broker").replaceChildren(...connected.map(brokerOption));
  applyBroker();
  form.hidden = false;
}

function wire() {
  $("#ticket-broker").addEventListener("change", applyBroker);
  $("#ticket-type").addEventListener("change", applyType);
  form.addEventListener("submit", placeOrder);
  for (const radio of document.querySelectorAll('input[name="order-filter"]')) {
    radio.addEventListener("change", () => {
      state.filter = radio.value;
      applyFilter();
    });
  }
}

function connectRealtime() {
  let wasLive = false;
  const client = pageClient(); // opened by shell.js
  client.watchStatus((status) => {
    // Events sent while the socket was down are gone: re-read the history after a reconnect.
    if (status === "live" && wasLive) loadHistory().catch(() => {});
    if (status === "live") wasLive = true;
  });
  showTrades(client, (event, data) => refreshOrder(data.order_id).catch(() => {}));
}

async function main() {
  wire();
  connectRealtime();
  try {
    const [supported, configured] = await Promise.all([api("/api/brokers/supported"), api("/api/brokers/user/configured")]);
    for (const spec of supported) state.specs.set(spec.key, spec);
    state.historyBrokers = configured.map((connection) => connection.broker);
    showTicket(configured.filter((connection) => connection.status === "connected" && state.specs.has(connection.broker)));
    await loadHistory();
  } catch (error) {
    $('[data-testid="ticket-loading"]').textContent = "Could not load your brokers; reload the page to try again.";
    showListError(`Could not load your orders: ${error.message}`);
  }
}

main();
