"""The customer's web application that the compatibility scripts run: a threaded HTTP server on
loopback that checks every request's X-Twilio-Signature with the official RequestValidator,
records the request, and answers what the script's `reply_for(path, params)` returns, as
(status, content type, body, extra headers). One place, so every script checks signatures the
same way: over the URL as requested (query included) and the form body's parameters.
"""
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from twilio.request_validator import RequestValidator


def no_content(path, params):
    return 204, "text/plain", ""


class CustomerApp:
    def __init__(self, token, reply_for=no_content):
        self.validator = RequestValidator(token)
        self.reply_for = reply_for
        # (path without query, query and form parameters, valid signature, headers)
        self.requests = []
        self.lock = threading.Lock()
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                app.handle(self, self.rfile.read(length).decode())

            def do_GET(self):
                app.handle(self, "")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, handler, body):
        form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        signature = handler.headers.get("X-Twilio-Signature", "")
        valid = self.validator.validate(f"{self.url}{handler.path}", form, signature)
        split = urllib.parse.urlsplit(handler.path)
        params = {**dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True)), **form}
        with self.lock:
            self.requests.append((split.path, params, valid, handler.headers))
        answer = self.reply_for(split.path, params)
        status, content_type, text = answer[:3]
        headers = answer[3] if len(answer) > 3 else []
        data = text.encode()
        try:
            handler.send_response(status)
            for name, value in headers:
                handler.send_header(name, value)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def received(self):
        """Every request so far, as (path, params, valid signature)."""
        with self.lock:
            return [(path, params, valid) for path, params, valid, _ in self.requests]

    def hits(self, path):
        """The requests to `path`, as (params, valid signature)."""
        return [(params, valid) for p, params, valid in self.received() if p == path]

    def headers(self, path, name):
        """The value of header `name` in each request to `path` (None where absent)."""
        with self.lock:
            return [headers.get(name) for p, _, _, headers in self.requests if p == path]

    def unsigned(self):
        """The requests whose signature did not validate, as (path, params)."""
        return [(path, params) for path, params, valid in self.received() if not valid]
