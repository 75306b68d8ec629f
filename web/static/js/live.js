// A stream's events over the websocket, resumed from the last seq after any disconnect.
//
// Each message carries a per-stream seq that rises by exactly one. We remember the last one
// applied, drop repeats, and on a gap (or a dropped connection) reconnect with ?since=<last>
// so the server replays what we missed before sending live events again.
export class LiveEvents {
  constructor(streamId, since, { onEvent, onState } = {}) {
    this.streamId = streamId;
    this.lastSeq = Number(since) || 0;
    this.onEvent = onEvent || (() => {});
    this.onState = onState || (() => {});
    this.attempt = 0;
    this.socket = null;
    this.timer = null;
    this.stopped = false;
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && !this.isOpen()) this.reconnectNow();
    });
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/ws/streams/${this.streamId}?since=${this.lastSeq}`;
  }

  isOpen() {
    return this.socket && this.socket.readyState === WebSocket.OPEN;
  }

  // Sends one message to the server (chat); false when not connected right now.
  send(message) {
    if (!this.isOpen()) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
  }

  connect() {
    clearTimeout(this.timer);
    this.onState("connecting");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.onState("open");
    });
    socket.addEventListener("message", (message) => this.receive(socket, message.data));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.onState("closed");
      if (!this.stopped) this.scheduleReconnect();
    });
    socket.addEventListener("error", () => socket.close());
  }

  receive(socket, raw) {
    let event;
    try {
      event = JSON.parse(raw);
    } catch {
      return;
    }
    if (typeof event.seq !== "number") {
      // Messages without a seq (such as presence counts) are not part of the ordered stream.
      this.onEvent(event);
      return;
    }
    if (event.seq <= this.lastSeq) return;
    if (event.seq > this.lastSeq + 1) {
      // A gap: let the server replay from what we have.
      socket.close(4000);
      return;
    }
    this.lastSeq = event.seq;
    this.onEvent(event);
  }

  scheduleReconnect() {
    const base = Math.min(8000, 300 * 2 ** this.attempt);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), base / 2 + Math.random() * (base / 2));
  }

  reconnectNow() {
    if (this.stopped || this.isOpen()) return;
    this.attempt = 0;
    this.connect();
  }
}
