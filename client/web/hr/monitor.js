// The live monitor socket (/ws/monitor, protocol/SPEC.md §15), kept alive across drops.
//
// It remembers, per watch, the last event id and the last chunk id it delivered; after a
// drop it reconnects with backoff and watches again with after_event / after_chunk set to
// those ids, so the hub replays exactly what was missed. Facts with an id at or before the
// one already delivered are dropped as well, so nothing is shown twice.
import { MONITOR_FINAL_CLOSES } from "/web/shared/protocol.js";
import { openSocket, pack, unpack } from "/web/shared/wire.js";

const SUBPROTOCOL = "interview-hub.monitor.v1";
const FINAL_CLOSES = new Set(MONITOR_FINAL_CLOSES); // logged out, not authenticated (SPEC §13)

// Stream ids are "<ms>-<seq>"; "0" and "" sort before everything.
export function idAfter(a, b) {
  const pa = String(a || "0").split("-").map(Number);
  const pb = String(b || "0").split("-").map(Number);
  if (pa[0] !== pb[0]) return pa[0] > pb[0];
  return (pa[1] || 0) > (pb[1] || 0);
}

export class Monitor {
  // handlers: onFact(msg), onStatus("live" | "reconnecting" | "offline"), onReady(msg, again),
  // onFinal(refused msg or null) when the hub closed for good (logout, no session).
  constructor(handlers) {
    this.h = handlers;
    this.socket = null;
    this.watches = new Map(); // interview_id ("" = organisation) -> {event, chunk}
    this.attempt = 0;
    this.stopped = true;
    this.ready = false;
    this.everReady = false;
    this.timer = null;
    this.lastRefused = null;
    this.held = false;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ready = false;
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000);
    this.watches.clear();
    this.h.onStatus("offline");
  }

  async connect() {
    if (this.stopped) return;
    if (this.held) {
      this.h.onStatus("reconnecting");
      return; // resume() connects
    }
    this.ready = false;
    this.h.onStatus("reconnecting");
    let socket;
    try {
      socket = await openSocket("/ws/monitor", SUBPROTOCOL);
    } catch {
      this.retry();
      return;
    }
    if (this.stopped) {
      socket.close(1000);
      return;
    }
    this.socket = socket;
    this.lastRefused = null;
    socket.onmessage = (event) => this.receive(event.data);
    socket.onerror = () => {};
    socket.onclose = (event) => this.closed(socket, event.code);
  }

  closed(socket, code) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.ready = false;
    if (this.stopped) return;
    if (FINAL_CLOSES.has(code)) {
      this.stopped = true;
      this.h.onStatus("offline");
      this.h.onFinal(this.lastRefused);
      return;
    }
    this.retry();
  }

  retry() {
    if (this.stopped) return;
    this.h.onStatus("reconnecting");
    const delay = Math.min(10_000, 300 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
    this.attempt = Math.min(this.attempt + 1, 6);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  send(message) {
    if (this.socket && this.ready && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(pack(message));
      return true;
    }
    return false;
  }

  sendWatch(id) {
    const w = this.watches.get(id);
    if (!w) return;
    w.pending = true; // facts of an earlier watch of it may still be on the way: skip them
    this.send({ type: "watch", interview_id: id, after_event: w.event, after_chunk: w.chunk });
  }

  // Follow an interview ("" = the organisation) from the given offsets ("" now, "0" all).
  watch(id, afterEvent = "", afterChunk = "") {
    this.watches.set(id, { event: afterEvent, chunk: afterChunk, pending: true });
    this.sendWatch(id);
  }

  unwatch(id) {
    if (!this.watches.delete(id)) return;
    this.send({ type: "unwatch", interview_id: id });
  }

  receive(data) {
    let msg;
    try {
      msg = unpack(data);
    } catch {
      return;
    }
    if (!msg || typeof msg !== "object") return;
    switch (msg.type) {
      case "ready": {
        const again = this.everReady;
        this.ready = true;
        this.everReady = true;
        this.attempt = 0;
        this.h.onStatus("live");
        for (const id of this.watches.keys()) this.sendWatch(id);
        this.h.onReady(msg, again);
        return;
      }
      case "watching": {
        const w = this.watches.get(msg.interview_id);
        if (!w) return;
        w.pending = false;
        // "From now" becomes the real offsets the watch starts after (SPEC §15.3): a drop
        // before the first entry then resumes exactly there, not from a later "now".
        if (!w.event && msg.after_event) w.event = msg.after_event;
        if (!w.chunk && msg.after_chunk) w.chunk = msg.after_chunk;
        break;
      }
      case "event": {
        const w = this.watches.get(msg.watch);
        if (!w || w.pending) return;
        if (w.event && w.event !== "0" && !idAfter(msg.id, w.event)) return; // seen already
        w.event = msg.id;
        break;
      }
      case "chunk": {
        const w = this.watches.get(msg.interview_id);
        if (!w || w.pending) return;
        if (w.chunk && w.chunk !== "0" && !idAfter(msg.id, w.chunk)) return;
        w.chunk = msg.id;
        break;
      }
      case "refused":
        this.lastRefused = msg;
        if (msg.fatal) return; // the close follows; onFinal reports it
        break;
      default:
        break;
    }
    this.h.onFact(msg);
  }

  // For tests and debugging: lose the socket as a network failure would. With hold, stay
  // away until resume() (so a test knows what happened while it was down).
  drop(hold = false) {
    this.held = Boolean(hold);
    if (this.socket) this.socket.close(3999); // an application close code: it reconnects
  }

  resume() {
    this.held = false;
    if (!this.socket && !this.stopped) {
      clearTimeout(this.timer);
      this.connect();
    }
  }
}
