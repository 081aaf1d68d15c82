"""A minimal Language Server Protocol client: drives the real `yaml-language-server` headless over stdio."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from queue import Empty, Queue
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOCAL_SERVER = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "yaml-language-server"
"""Where `.ci/editor.sh` installs the server (npm, pinned)."""

SETTINGS = {"yaml": {"validate": True, "hover": True, "completion": True, "format": {"enable": False},
                     "schemaStore": {"enable": False}, "schemas": {}, "yamlVersion": "1.2"}}
"""No schema store (no network): the `$schema` line in each file is the only schema."""


def server_command() -> list[str] | None:
    """The server's command line, or None when it is not installed."""
    found = os.environ.get("YAML_LANGUAGE_SERVER") or (str(LOCAL_SERVER) if LOCAL_SERVER.exists() else None)
    found = found or shutil.which("yaml-language-server")
    return [found, "--stdio"] if found else None


class YamlLanguageServer:
    """One server process; open documents, read their diagnostics, ask for completions and hovers."""

    def __init__(self, command: list[str], root: Path):
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, cwd=root)
        self.inbox: Queue[dict[str, Any]] = Queue()
        self.diagnostics: dict[str, list[dict[str, Any]]] = {}
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        self.request("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {
            "textDocument": {"completion": {"completionItem": {"snippetSupport": False}},
                             "hover": {"contentFormat": ["markdown", "plaintext"]},
                             "publishDiagnostics": {}},
            "workspace": {"configuration": True}}})
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": SETTINGS})

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            headers = {}
            while (line := out.readline().decode()) not in ("\r\n", ""):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if not headers:
                return
            self.inbox.put(json.loads(out.read(int(headers["content-length"]))))

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = 30) -> Any:
        self._next_id += 1
        self._send({"id": self._next_id, "method": method, "params": params})
        return self._pump(lambda m: m.get("id") == self._next_id and "method" not in m, timeout)["result"]

    def _pump(self, done: Any, timeout: float) -> dict[str, Any]:
        """Handle messages (answer the server's requests, keep diagnostics) until `done(message)`."""
        end = time.monotonic() + timeout
        while True:
            try:
                message = self.inbox.get(timeout=max(0.01, end - time.monotonic()))
            except Empty:
                raise TimeoutError("yaml-language-server did not answer") from None
            if message.get("method") == "textDocument/publishDiagnostics":
                self.diagnostics[message["params"]["uri"]] = message["params"]["diagnostics"]
            elif "method" in message and "id" in message:  # a request from the server
                items = message["params"].get("items", []) if message["method"] == "workspace/configuration" else []
                result = [SETTINGS.get(i.get("section", ""), SETTINGS["yaml"]) for i in items] if items else None
                self._send({"id": message["id"], "result": result})
            if done(message):
                return message

    def open(self, path: Path) -> str:
        uri = path.resolve().as_uri()
        self.diagnostics.pop(uri, None)
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1,
                                                              "text": path.read_text()}})
        return uri

    def diagnostics_of(self, path: Path, settle: float = 1.5) -> list[dict[str, Any]]:
        """The diagnostics the server publishes for a file once it has read the file's schema."""
        uri = self.open(path)
        self._pump(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                   and m["params"]["uri"] == uri, timeout=60)
        try:  # a first report may come before the schema is loaded; take the last one
            self._pump(lambda m: False, timeout=settle)
        except TimeoutError:
            pass
        return self.diagnostics[uri]

    def completion(self, path: Path, line: int, character: int) -> list[str]:
        uri = self.open(path)
        result = self.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                          "position": {"line": line, "character": character}})
        items = result["items"] if isinstance(result, dict) else result or []
        return [item["label"] for item in items]

    def hover(self, path: Path, line: int, character: int) -> str:
        uri = self.open(path)
        result = self.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                     "position": {"line": line, "character": character}})
        contents = (result or {}).get("contents", "")
        return contents.get("value", "") if isinstance(contents, dict) else str(contents)

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            self.proc.wait(timeout=10)
        except (TimeoutError, subprocess.TimeoutExpired, BrokenPipeError):
            self.proc.kill()
            self.proc.wait()
