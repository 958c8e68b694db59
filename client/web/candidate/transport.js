// The hub's candidate socket: binary msgpack frames, subprotocol interview-hub.v2 (v1 plus
// camera and microphone, and the ping/pong heartbeat), or v1 from an older hub.
import { pack, socketUrl, unpack } from "/web/shared/wire.js";

export const SUBPROTOCOL = "interview-hub.v1";
export const SUBPROTOCOL_V2 = "interview-hub.v2";

// A dead network path (no FIN, no RST: a phone that lost its signal, a sleeping laptop)
// shows only as silence, and a browser cannot send websocket pings: on v2 the page pings
// the hub itself and gives the socket up when nothing at all has come back for a while
// (SPEC §16.1). The session then shows "offline" and reconnects, keeping every unsent
// chunk in its outbox. Silence is checked at each heartbeat: noticed within 10 s.
export const HEARTBEAT_MS = 2000;
export const SILENCE_MS = 8000;
// A handshake through a dead path hangs as well: give it up and try again.
export const CONNECT_MS = 10000;

export function socketTransport({ onOpen, onMessage, onClose }) {
  const socket = new WebSocket(socketUrl("/ws/candidate"), [SUBPROTOCOL_V2, SUBPROTOCOL]);
  socket.binaryType = "arraybuffer";
  let lastHeard = Date.now();
  let timer = null;
  let closed = false;
  const finish = (code) => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    clearTimeout(connecting);
    window.removeEventListener("offline", giveUp);
    onClose(code);
  };
  // No close frame comes through a dead path: give the socket up ourselves.
  const giveUp = () => {
    socket.onopen = null;
    socket.onclose = null;
    socket.onmessage = null;
    try {
      socket.close();
    } catch {
      // already closing
    }
    finish(1006);
  };
  const connecting = setTimeout(giveUp, CONNECT_MS);
  // The browser knows the network is gone (airplane mode, Wi-Fi off): no need to wait.
  window.addEventListener("offline", giveUp);
  socket.onopen = () => {
    clearTimeout(connecting);
    lastHeard = Date.now();
    if (socket.protocol === SUBPROTOCOL_V2) {
      timer = setInterval(() => {
        if (Date.now() - lastHeard > SILENCE_MS) {
          giveUp();
          return;
        }
        if (socket.readyState === WebSocket.OPEN) socket.send(pack({ type: "ping" }));
      }, HEARTBEAT_MS);
    }
    onOpen();
  };
  socket.onmessage = (event) => {
    lastHeard = Date.now();
    if (typeof event.data === "string") return;
    const message = unpack(event.data);
    if (message.type !== "pong") onMessage(message);
  };
  socket.onclose = (event) => finish(event.code);
  return {
    media: () => socket.protocol === SUBPROTOCOL_V2,
    isOpen: () => !closed && socket.readyState === WebSocket.OPEN,
    send: (message) => {
      if (!closed && socket.readyState === WebSocket.OPEN) socket.send(pack(message));
    },
    close: () => socket.close(),
  };
}
