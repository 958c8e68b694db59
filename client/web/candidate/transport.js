// The hub's candidate socket: binary msgpack frames, subprotocol interview-hub.v1.
import { pack, socketUrl, unpack } from "/web/shared/wire.js";

export const SUBPROTOCOL = "interview-hub.v1";
export const SUBPROTOCOL_V2 = "interview-hub.v2"; // v1 + camera and microphone (WebRTC)

export function socketTransport({ onOpen, onMessage, onClose }) {
  const socket = new WebSocket(socketUrl("/ws/candidate"), [SUBPROTOCOL_V2, SUBPROTOCOL]);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => onOpen();
  socket.onmessage = (event) => {
    if (typeof event.data !== "string") onMessage(unpack(event.data));
  };
  socket.onclose = (event) => onClose(event.code);
  return {
    media: () => socket.protocol === SUBPROTOCOL_V2,
    isOpen: () => socket.readyState === WebSocket.OPEN,
    send: (message) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(pack(message));
    },
    close: () => socket.close(),
  };
}
