// The dashboard: portfolio figures, the live watchlist and trade toasts, all from the
// REST API first and then kept current by the WebSocket events.
import { EVENTS } from "/js/events.js";
import { api, money } from "./api.js";
import { RealtimeClient } from "./realtime.js";
import { showTrades } from "./trades.js";

const $ = (selector, root = document) => root.querySelector(selector);

function renderPortfolio(p) {
  $('[data-testid="portfolio-total"]').textContent = money(p.total_value);
  $('[data-field="cash"]').textContent = money(p.cash);
  $('[data-field="day_pnl"]').textContent = `${money(p.day_pnl)} (${p.day_pnl_pct}%)`;
  const rows = $('[data-testid="portfolio-brokers"]');
  rows.replaceChildren(...p.brokers.map((b) => {
    const tr = document.createElement("tr");
    tr.dataset.broker = b.broker;
    tr.innerHTML = "<th></th><td></td><td></td>";
    tr.children[0].textContent = b.broker;
    tr.children[1].textContent = money(b.equity);
    tr.children[2].textContent = b.status;
    return tr;
  }));
}

function watchlistRow(symbol) {
  const body = $('[data-testid="watchlist"] tbody');
  let row = body.querySelector(`tr[data-symbol="${CSS.escape(symbol)}"]`);
  if (!row) {
    row = document.createElement("tr");
    row.dataset.symbol = symbol;
    row.innerHTML = '<th scope="row"></th><td data-field="price">—</td><td data-field="change">—</td><td data-field="change_pct">—</td><td data-field="volume">—</td>';
    row.firstChild.textContent = symbol;
    body.append(row);
  }
  return row;
}

function renderQuote(q) {
  const row = watchlistRow(q.symbol);
  const price = row.querySelector('[data-field="price"]');
  const before = Number(price.dataset.value || q.price);
  price.dataset.value = q.price;
  price.textContent = q.price;
  row.querySelector('[data-field="change"]').textContent = q.change;
  row.querySelector('[data-field="change_pct"]').textContent = `${q.change_pct}%`;
  row.querySelector('[data-field="volume"]').textContent = Number(q.volume).toLocaleString("en-US");
  const direction = Number(q.price) >= before ? "up" : "down";
  price.classList.remove("flash-up", "flash-down");
  void price.offsetWidth; // restart the flash animation
  price.classList.add(`flash-${direction}`);
}

function setStatus(status) {
  const el = $('[data-testid="connection-status"]');
  el.dataset.status = status;
  el.textContent = status;
}

async function main() {
  const client = new RealtimeClient({ onStatus: setStatus });
  client.on(EVENTS.PORTFOLIO_UPDATE, renderPortfolio);
  client.on(EVENTS.WATCHLIST_QUOTE, renderQuote);
  showTrades(client);
  const [portfolio, watchlist] = await Promise.all([api("/api/portfolio"), api("/api/watchlist")]);
  renderPortfolio(portfolio);
  for (const item of watchlist) {
    watchlistRow(item.symbol);
    if (item.quote) renderQuote(item.quote);
  }
  client.symbols = new Set(watchlist.map((item) => item.symbol));
  client.connect();
}

main();
