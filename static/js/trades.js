// Trade notifications shared by every page that shows them: one wording for fills and failures.
import { EVENTS } from "/js/events.js";
import { capitalise } from "./dom.js";
import { toast } from "./toasts.js";

export function tradeToast(event, data) {
  if (event === EVENTS.TRADE_EXECUTED) {
    return toast("success", `${capitalise(data.side)} ${data.filled_qty} ${data.symbol} filled at ${data.price} (fee ${data.fee})`);
  }
  return toast("error", `${capitalise(data.side)} ${data.qty} ${data.symbol} failed: ${data.error.message}`);
}

// Wire both trade events of a RealtimeClient to toasts, and to an optional extra handler.
export function showTrades(client, also = () => {}) {
  for (const event of [EVENTS.TRADE_EXECUTED, EVENTS.TRADE_FAILED]) {
    client.on(event, (data) => {
      tradeToast(event, data);
      also(event, data);
    });
  }
}
