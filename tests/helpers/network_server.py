"""A stand-in for a LoRaWAN network server's downlink API, on 127.0.0.1 and a free port.

It answers like ChirpStack's REST queue API (`POST /api/devices/{devEui}/queue` → `{"id": …}`,
`DELETE` → `{}`) and TTS's downlink API (`POST …/down/push|replace` → `{}`), and records every
call (method, path, headers, JSON body) for a test to look at. `refuse_with` makes it answer
every call with that status instead.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    answer: Any = None


@dataclass
class FakeNetworkServer:
    calls: list[Call] = field(default_factory=list)
    refuse_with: int | None = None
    url: str = ""

    def start(self) -> FakeNetworkServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, answer = (server.refuse_with, {"error": "refused"}) if server.refuse_with else (200, {})
                if not server.refuse_with and self.command == "POST" and self.path.endswith("/queue"):
                    answer = {"id": str(uuid.uuid4())}
                server.calls.append(Call(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                         json.loads(raw) if raw else None, answer))
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_DELETE = do_GET = _answer

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, name="fake-network-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def enqueued(self) -> list[Call]:
        return [call for call in self.calls if call.method == "POST"]
