// Browser side of the STOMP WebSocket conformance test.
// Query: ?url=ws://127.0.0.1:PORT/stomp&sub=<topic to subscribe>&send=<destination to SEND to>
// Reports through the DOM (#status, #version, #received) and document.title:
//   "subscribed" once the subscription RECEIPT arrived and the page's SEND was acknowledged,
//   "GOT:<body>" once a MESSAGE arrived on <sub>, "ERROR:<text>" on failure.
(function () {
  const q = new URLSearchParams(location.search);
  const status = document.getElementById("status");
  const received = document.getElementById("received");
  const report = (s) => { status.textContent = s; document.title = s; };
  if (typeof StompJs === "undefined") { report("ERROR:stompjs bundle not loaded"); return; }
  const client = new StompJs.Client({
    brokerURL: q.get("url"),
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
  });
  let got = null;
  client.onConnect = (frame) => {
    document.getElementById("version").textContent = frame.headers["version"];
    report("connected:" + frame.headers["version"]);
    client.watchForReceipt("page-sub", () => {
      client.watchForReceipt("page-send", () => { if (!got) report("subscribed"); });
      client.publish({
        destination: q.get("send"),
        body: "hello from the browser",
        headers: { "content-type": "text/plain", "x-from": "stompjs", receipt: "page-send" },
      });
    });
    client.subscribe(q.get("sub"), (msg) => {
      got = msg.body;
      received.textContent = JSON.stringify({ body: msg.body, headers: msg.headers });
      report("GOT:" + msg.body);
    }, { id: "page-sub-1", receipt: "page-sub" });
  };
  client.onStompError = (f) => report("ERROR:" + (f.headers["message"] || "stomp error"));
  client.onWebSocketError = () => report("ERROR:websocket error");
  client.activate();
})();
