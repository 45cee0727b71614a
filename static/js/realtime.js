// One WebSocket per page to /ws/: dispatches server events by name, keeps the subscription
// list, and reconnects with jittered exponential backoff, re-subscribing after each reconnect.
// `pageClient()` is the page's one client: the shell (kill switch, connection alerts) and the
// page's own module register their handlers on it, and whichever calls connect() first opens it.
import { EVENTS } from "/js/events.js";

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
const CLOSE_UNAUTHENTICATED = 4401;

export class RealtimeClient {
  constructor({ url = defaultUrl(), onStatus = null } = {}) {
    this.url = url;
    this.statusListeners = onStatus ? [onStatus] : [];
    this.status = "connecting";
    this.handlers = new Map();
    this.symbols = new Set();
    this.attempt = 0;
    this.socket = null;
    this.ready = false; // the server said "ready": subscriptions may be sent
    this.stopped = false;
    this.on(EVENTS.READY, () => {
      this.attempt = 0;
      this.ready = true;
      this.setStatus("live");
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

  /** Call `listener(status)` now and on every change of live/connecting/reconnecting/offline. */
  watchStatus(listener) {
    this.statusListeners.push(listener);
    listener(this.status);
    return this;
  }

  setStatus(status) {
    this.status = status;
    for (const listener of this.statusListeners) listener(status);
  }

  /** Open the socket; a second call while it is open or opening does nothing. */
  connect() {
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) return this;
    this.stopped = false;
    this.setStatus(this.attempt ? "reconnecting" : "connecting");
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
    this.ready = false;
    if (this.stopped || event.code === CLOSE_UNAUTHENTICATED) {
      this.setStatus("offline");
      return;
    }
    this.attempt += 1;
    this.setStatus("reconnecting");
    // Full jitter spreads a fleet of reconnecting browsers after a deploy.
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    setTimeout(() => this.connect(), Math.random() * ceiling);
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  // Before "ready" the symbols only join the list: the ready handler subscribes to all of it.
  subscribe(symbols) {
    symbols.forEach((s) => this.symbols.add(s));
    if (this.ready) this.send({ action: "subscribe", symbols });
  }

  unsubscribe(symbols) {
    symbols.forEach((s) => this.symbols.delete(s));
    if (this.ready) this.send({ action: "unsubscribe", symbols });
  }

  ping() {
    this.send({ action: "ping" });
  }

  close() {
    this.stopped = true;
    if (this.socket) this.socket.close();
  }
}

// The page's live/reconnecting/offline badge (data-testid="connection-status"), where it has one.
export function showStatus(status) {
  const badge = document.querySelector('[data-testid="connection-status"]');
  if (!badge) return;
  badge.dataset.status = status;
  badge.textContent = status;
}

let shared = null;

/** The page's one RealtimeClient (modules are evaluated once per page, so every importer gets it). */
export function pageClient() {
  shared ||= new RealtimeClient({ onStatus: showStatus });
  return shared;
}

function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws/`;
}
