// One WebSocket per page to /ws/: dispatches server events by name, keeps the subscription
// list, and reconnects with jittered exponential backoff, re-subscribing after each reconnect.
import { EVENTS } from "/js/events.js";

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
const CLOSE_UNAUTHENTICATED = 4401;

export class RealtimeClient {
  constructor({ url = defaultUrl(), onStatus = () => {} } = {}) {
    this.url = url;
    this.onStatus = onStatus;
    this.handlers = new Map();
    this.symbols = new Set();
    this.attempt = 0;
    this.socket = null;
    this.stopped = false;
    this.on(EVENTS.READY, () => {
      this.attempt = 0;
      this.onStatus("live");
      if (this.symbols.size) this.send({ action: "subscribe", symbols: [...this.symbols] });
    });
    this.on(EVENTS.PONG, () => {});
    this.on(EVENTS.SUBSCRIBED, () => {});
    this.on(EVENTS.UNSUBSCRIBED, () => {});
    this.on(EVENTS.ERROR, (data) => console.warn("realtime:", data.code, data.message));
  }

  on(event, handler) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(handler);
    return this;
  }

  connect() {
    this.stopped = false;
    this.onStatus(this.attempt ? "reconnecting" : "connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("message", (message) => this.dispatch(message.data));
    socket.addEventListener("close", (event) => this.closed(event));
    return this;
  }

  dispatch(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    for (const handler of this.handlers.get(message.event) || []) handler(message.data, message);
  }

  closed(event) {
    if (this.stopped || event.code === CLOSE_UNAUTHENTICATED) {
      this.onStatus("offline");
      return;
    }
    this.attempt += 1;
    this.onStatus("reconnecting");
    // Full jitter spreads a fleet of reconnecting browsers after a deploy.
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    setTimeout(() => this.connect(), Math.random() * ceiling);
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  subscribe(symbols) {
    symbols.forEach((s) => this.symbols.add(s));
    this.send({ action: "subscribe", symbols });
  }

  unsubscribe(symbols) {
    symbols.forEach((s) => this.symbols.delete(s));
    this.send({ action: "unsubscribe", symbols });
  }

  ping() {
    this.send({ action: "ping" });
  }

  close() {
    this.stopped = true;
    if (this.socket) this.socket.close();
  }
}

// The page's live/reconnecting/offline badge (data-testid="connection-status").
export function showStatus(status) {
  const badge = document.querySelector('[data-testid="connection-status"]');
  badge.dataset.status = status;
  badge.textContent = status;
}

function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws/`;
}
