"""A stand-in for an outside speech-to-text service: OpenAI's ``/v1/audio/transcriptions``
(multipart upload, ``verbose_json`` with segments and words), run on a local port."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SpeechService:
    """``mode``: "ok" answers, "fail" answers 500, "hang" holds the request until closed."""

    def __init__(self, mode: str = "ok", text: str = "hello from the service") -> None:
        self.mode = mode
        self.text = text
        self.requests: list[dict[str, Any]] = []
        self.released = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                service.requests.append(service.parse(self.path, self.headers, body))
                if service.mode == "hang":
                    service.released.wait()
                    return
                if service.mode == "fail":
                    self.send_response(500)
                    self.end_headers()
                    return
                reply = json.dumps(service.verbose_json()).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> SpeechService:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def parse(self, path: str, headers: Any, body: bytes) -> dict[str, Any]:
        head = f"Content-Type: {headers['content-type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(head + body)
        fields: dict[str, Any] = {"path": path, "authorization": headers.get("authorization")}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True)
            if part.get_filename():
                with wave.open(io.BytesIO(data)) as w:
                    fields["wav"] = {"rate": w.getframerate(), "frames": w.getnframes()}
            else:
                fields.setdefault(name, []).append(data.decode())
        return fields

    def verbose_json(self) -> dict[str, Any]:
        words = self.text.split()
        return {
            "task": "transcribe",
            "language": "english",
            "duration": len(words) * 0.5,
            "text": self.text,
            "segments": [{"id": 0, "start": 0.0, "end": len(words) * 0.5, "text": self.text}],
            "words": [
                {"word": w, "start": i * 0.5, "end": i * 0.5 + 0.4} for i, w in enumerate(words)
            ],
        }
