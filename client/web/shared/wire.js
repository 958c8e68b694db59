// The wire: msgpack maps over binary websocket frames (protocol/SPEC.md §1).
import { decode, encode } from "/web/vendor/msgpack/index.mjs";

export function pack(message) {
  return encode(message);
}

export function unpack(data) {
  return decode(new Uint8Array(data));
}

export function socketUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}

// Open a socket with the given subprotocol; resolves once open, rejects on close/error.
export function openSocket(path, subprotocol) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(socketUrl(path), [subprotocol]);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error("socket error"));
    socket.onclose = (event) => reject(new Error(`socket closed ${event.code}`));
  });
}

// POST JSON; resolves to {ok, status, body} and never throws on HTTP errors.
export async function postJson(path, body, headers = {}) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  let parsed = {};
  try {
    parsed = await response.json();
  } catch {
    parsed = {};
  }
  return { ok: response.ok, status: response.status, body: parsed };
}
