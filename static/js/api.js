// The one fetch wrapper every page uses: same-origin session, CSRF header on unsafe methods,
// and the contract's error body turned into an ApiError with its per-field messages.
export class ApiError extends Error {
  constructor(status, body, retryAfter = null) {
    const error = (body && body.error) || {};
    super(error.message || `Request failed (${status})`);
    this.status = status;
    this.code = error.code || "error";
    this.fields = error.fields || {};
    this.retryAfter = retryAfter === null || retryAfter === "" ? null : Number(retryAfter); // seconds, from a 429
  }
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data, response.headers.get("Retry-After"));
  return data;
}

const once = new Map();

/** A GET whose answer does not change while the page is open (e.g. /api/brokers/supported), fetched once. */
export function getOnce(path) {
  if (!once.has(path)) {
    const request = api(path);
    request.catch(() => once.delete(path)); // a failure is not remembered: the next caller asks again
    once.set(path, request);
  }
  return once.get(path);
}

export const money = (value, currency = "USD") =>
  value === null || value === undefined ? "—" : Number(value).toLocaleString("en-US", { style: "currency", currency });
