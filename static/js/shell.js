// What every logged-in page has, loaded by base.html after the page's own module: the kill
// switch in the header, the connection alerts, and the page's one WebSocket, opened here.
// <body data-realtime> mirrors the socket's state, also on pages without a status badge.
import { pageClient } from "./realtime.js";
import { watchConnections } from "./connection_alerts.js";
import { killSwitch } from "./killswitch.js";

const client = pageClient();
killSwitch(document.querySelector('[data-testid="kill-switch"]'));
watchConnections(client);
client.watchStatus((status) => {
  document.body.dataset.realtime = status;
});
client.connect();
