// The dashboard: portfolio figures, the live watchlist and trade toasts, all from the
// REST API first and then kept current by the WebSocket events.
import { EVENTS } from "/js/events.js";
import { api, ApiError, money } from "./api.js";
import { pageClient } from "./realtime.js";
import { toast } from "./toasts.js";
import { showTrades } from "./trades.js";

const $ = (selector, root = document) => root.querySelector(selector);
const SVG = "http://www.w3.org/2000/svg";
const brokerNames = new Map(); // key -> registry name, from /api/brokers/supported

// --- portfolio ------------------------------------------------------------------------------

const signed = (value, text) => (Number(value) > 0 ? `+${text}` : text);

function formatTime(iso) {
  if (!iso) return "—";
  const at = new Date(iso);
  const sameDay = at.toDateString() === new Date().toDateString();
  return sameDay
    ? at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

// An inline SVG polyline of [{t, v}], scaled to its own min..max; flat when nothing moved.
export function sparkline(points, label) {
  const values = (points || []).map((p) => Number(p.v)).filter((v) => Number.isFinite(v));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 100 30");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("role", "img");
  if (values.length === 0) {
    svg.setAttribute("aria-label", `${label}: no history yet`);
    return svg;
  }
  if (values.length === 1) values.push(values[0]); // one snapshot so far: a flat line
  const low = Math.min(...values);
  const span = Math.max(...values) - low;
  const step = 100 / (values.length - 1);
  const coords = values.map((v, i) => {
    const y = span ? 28 - ((v - low) / span) * 26 : 15;
    return `${(i * step).toFixed(2)},${y.toFixed(2)}`;
  });
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", coords.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  const first = values[0];
  const last = values[values.length - 1];
  svg.dataset.trend = last > first ? "up" : last < first ? "down" : "flat";
  svg.setAttribute("aria-label", `${label}: ${money(first)} to ${money(last)} over 24 hours`);
  svg.append(line);
  return svg;
}

function brokerRow(b) {
  const tr = document.createElement("tr");
  tr.dataset.broker = b.broker;
  tr.innerHTML =
    '<th scope="row"></th><td data-field="equity"></td><td data-field="cash" class="hide-sm"></td>' +
    '<td><span class="status" data-field="status"></span></td><td data-field="as_of" class="hide-sm"><time></time></td>' +
    '<td class="spark"></td>';
  tr.children[0].textContent = brokerNames.get(b.broker) || b.broker;
  tr.children[1].textContent = money(b.equity);
  tr.children[2].textContent = money(b.cash);
  const status = tr.querySelector('[data-field="status"]');
  status.dataset.status = b.status;
  status.textContent = b.status.replaceAll("_", " ");
  const time = tr.querySelector("time");
  if (b.as_of) time.dateTime = b.as_of;
  time.textContent = formatTime(b.as_of);
  tr.children[5].append(sparkline(b.sparkline, `${brokerNames.get(b.broker) || b.broker} equity`));
  return tr;
}

function renderPortfolio(p) {
  const card = $('[data-testid="portfolio"]');
  card.removeAttribute("aria-busy");
  $('[data-testid="portfolio-error"]').hidden = true;
  $('[data-testid="portfolio-total"]').textContent = money(p.total_value, p.currency);
  $('[data-field="cash"]', card).textContent = money(p.cash, p.currency);
  const pnl = $('[data-field="day_pnl"]', card);
  const direction = Number(p.day_pnl) > 0 ? "up" : Number(p.day_pnl) < 0 ? "down" : "flat";
  pnl.dataset.direction = direction;
  const arrow = direction === "up" ? "▲ " : direction === "down" ? "▼ " : "";
  pnl.textContent = `${arrow}${signed(p.day_pnl, money(p.day_pnl, p.currency))} (${signed(p.day_pnl_pct, `${Number(p.day_pnl_pct).toFixed(2)}%`)})`;
  $('[data-field="active_bots"] [data-slot="count"]', card).textContent = String(p.active_bots);
  $('[data-testid="portfolio-sparkline"]').replaceChildren(sparkline(p.sparkline, "Total value"));
  const empty = p.brokers.length === 0;
  $('[data-testid="portfolio-empty"]').hidden = !empty;
  $('[data-testid="portfolio-brokers-wrap"]').hidden = empty;
  $('[data-testid="portfolio-brokers"]').replaceChildren(...p.brokers.map(brokerRow));
}

function portfolioFailed(error) {
  const box = $('[data-testid="portfolio-error"]');
  box.textContent = `The portfolio could not be loaded: ${error.message}`;
  box.hidden = false;
  $('[data-testid="portfolio"]').removeAttribute("aria-busy");
}

// --- watchlist ------------------------------------------------------------------------------

const watchBody = () => $('[data-testid="watchlist"] tbody');
const findRow = (symbol) => watchBody().querySelector(`tr[data-symbol="${CSS.escape(symbol)}"]`);

function syncWatchlistEmpty() {
  $('[data-testid="watchlist-empty"]').hidden = watchBody().children.length > 0;
}

function watchlistRow(symbol, onRemove) {
  let row = findRow(symbol);
  if (row) return row;
  row = document.createElement("tr");
  row.dataset.symbol = symbol;
  row.innerHTML =
    '<th scope="row"></th><td data-field="price">—</td><td data-field="change" class="hide-sm">—</td>' +
    '<td data-field="change_pct">—</td><td data-field="volume" class="hide-sm">—</td>' +
    '<td class="actions"><button type="button" class="remove">Remove</button></td>';
  row.firstChild.textContent = symbol;
  const remove = row.querySelector("button.remove");
  remove.setAttribute("aria-label", `Remove ${symbol}`);
  remove.addEventListener("click", () => onRemove(symbol, remove));
  watchBody().append(row);
  syncWatchlistEmpty();
  return row;
}

function renderQuote(q) {
  const row = findRow(q.symbol); // a late quote for a symbol just removed is dropped
  if (!row) return;
  const price = row.querySelector('[data-field="price"]');
  const before = price.dataset.value === undefined ? null : Number(price.dataset.value);
  price.dataset.value = q.price;
  price.textContent = q.price;
  const change = row.querySelector('[data-field="change"]');
  change.textContent = q.change;
  const pct = row.querySelector('[data-field="change_pct"]');
  pct.textContent = `${q.change_pct}%`;
  for (const cell of [change, pct]) {
    cell.dataset.direction = Number(q.change) > 0 ? "up" : Number(q.change) < 0 ? "down" : "flat";
  }
  row.querySelector('[data-field="volume"]').textContent = Number(q.volume).toLocaleString("en-US");
  // A source that stopped answering: its last price stays, marked as not current.
  row.classList.toggle("stale", Boolean(q.stale));
  row.title = q.stale ? `${q.source} is not answering: the last price is from ${q.as_of}` : "";
  if (before === null || Number(q.price) === before) return;
  price.classList.remove("flash-up", "flash-down");
  void price.offsetWidth; // restart the flash animation
  price.classList.add(Number(q.price) > before ? "flash-up" : "flash-down");
}

function fieldError(input, message) {
  const error = document.getElementById(`${input.id}-error`);
  const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== error.id);
  if (message) {
    error.textContent = message;
    error.hidden = false;
    input.setAttribute("aria-invalid", "true");
    described.push(error.id);
  } else {
    error.textContent = "";
    error.hidden = true;
    input.removeAttribute("aria-invalid");
  }
  input.setAttribute("aria-describedby", described.join(" "));
}

function watchlistControls(client) {
  const form = $('[data-testid="watchlist-add"]');
  const input = $("#watch-symbol", form);
  const submit = $('button[type="submit"]', form);

  async function remove(symbol, button) {
    button.disabled = true;
    try {
      await api(`/api/watchlist/${encodeURIComponent(symbol)}`, { method: "DELETE" });
    } catch (error) {
      // Already gone elsewhere (404): the row should go as well.
      if (!(error instanceof ApiError && error.status === 404)) {
        button.disabled = false;
        toast("error", `Could not remove ${symbol}: ${error.message}`);
        return;
      }
    }
    client.unsubscribe([symbol]);
    findRow(symbol)?.remove();
    syncWatchlistEmpty();
    input.focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const typed = input.value.trim();
    if (!typed) {
      fieldError(input, "Enter a symbol, e.g. AAPL or BTC/USD.");
      input.focus();
      return;
    }
    submit.disabled = true;
    try {
      const item = await api("/api/watchlist", { method: "POST", body: { symbol: typed } });
      fieldError(input, "");
      input.value = "";
      const isNew = !findRow(item.symbol);
      watchlistRow(item.symbol, remove);
      if (item.quote) renderQuote(item.quote);
      if (isNew) client.subscribe([item.symbol]);
    } catch (error) {
      const message = (error.fields && error.fields.symbol && error.fields.symbol.join(" ")) || error.message;
      fieldError(input, message);
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  input.addEventListener("input", () => {
    if (input.getAttribute("aria-invalid")) fieldError(input, "");
  });
  return remove;
}

// --- wiring ---------------------------------------------------------------------------------

async function main() {
  const client = pageClient(); // opened by shell.js; subscriptions wait for its "ready"
  client.on(EVENTS.PORTFOLIO_UPDATE, renderPortfolio);
  client.on(EVENTS.WATCHLIST_QUOTE, renderQuote);
  showTrades(client);
  const remove = watchlistControls(client);

  const supported = api("/api/brokers/supported").catch(() => []);
  const [brokers, portfolio, watchlist] = await Promise.allSettled([
    supported,
    api("/api/portfolio"),
    api("/api/watchlist"),
  ]);
  for (const b of brokers.value || []) brokerNames.set(b.key, b.name);
  if (portfolio.status === "fulfilled") renderPortfolio(portfolio.value);
  else portfolioFailed(portfolio.reason);
  if (watchlist.status === "rejected") toast("error", `The watchlist could not be loaded: ${watchlist.reason.message}`);
  const items = watchlist.status === "fulfilled" ? watchlist.value : [];
  for (const item of items) {
    watchlistRow(item.symbol, remove);
    if (item.quote) renderQuote(item.quote);
  }
  syncWatchlistEmpty();
  if (items.length) client.subscribe(items.map((item) => item.symbol));
}

main();
