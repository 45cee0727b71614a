// A bot's webhook URL, shown once (after create or rotate, the only answers that carry it) with a
// ready-to-paste TradingView alert message in the contract's signal shape.
import { copyButtons } from "./clipboard.js";

/** The alert body: TradingView fills in the {{placeholders}} when the alert fires. */
export function alertMessage(bot) {
  const message = {
    id: "{{strategy.order.id}}-{{timenow}}", // a repeated delivery of one alert is recognised, never placed twice
    action: "{{strategy.order.action}}",
    symbol: "{{ticker}}",
  };
  if (bot.sizing.mode === "signal") message.qty = "{{strategy.order.contracts}}";
  message.price = "{{close}}";
  message.time = "{{timenow}}";
  return JSON.stringify(message, null, 2);
}

export function webhookPanel(panel) {
  const fields = {
    name: panel.querySelector('[data-slot="bot-name"]'),
    url: panel.querySelector('[data-testid="webhook-url"]'),
    message: panel.querySelector('[data-testid="webhook-message"]'),
    result: panel.querySelector("[data-copy-result]"),
  };
  copyButtons(panel, "the text");
  function hide() {
    panel.hidden = true;
    for (const node of Object.values(fields)) node.textContent = ""; // the secret leaves the page
  }
  panel.querySelector('[data-action="dismiss-webhook"]').addEventListener("click", hide);
  return {
    show(bot, url) {
      fields.name.textContent = bot.name;
      fields.url.textContent = url;
      fields.message.textContent = alertMessage(bot);
      fields.result.textContent = "";
      panel.hidden = false;
      panel.querySelector("h2").focus();
    },
    hide,
  };
}
