#!/usr/bin/env python3
"""An mlinfra provider plugin in plain Python 3 (standard library only).

It manages `text_file` resources: files under a root directory that the
provider config names. It speaks the mlinfra plugin protocol, JSON-RPC 2.0
over stdin/stdout, one JSON message per line (see providers/README.md).
Logs go to stderr; stdout carries protocol messages only.
"""

import hashlib
import json
import os
import re
import stat
import sys
import tempfile

NAME = "files"
VERSION = "0.1.0"
PROTOCOL_VERSION = 1
MODE_PATTERN = re.compile(r"^0?[0-7]{3}$")

SCHEMA = {
    "name": NAME,
    "version": VERSION,
    "config": {
        "root": {
            "type": "string",
            "required": True,
            "description": "Directory the files live in; relative to the spec's directory.",
        },
    },
    "resource_types": {
        "text_file": {
            "version": 1,
            "description": "A UTF-8 text file under the provider's root.",
            "attributes": {
                "path": {
                    "type": "string",
                    "required": True,
                    "force_new": True,
                    "description": "Relative to the root; may not leave it. The id.",
                },
                "content": {"type": "string", "required": True},
                "mode": {
                    "type": "string",
                    "computed": True,
                    "optional": True,
                    "description": "Octal permissions; the provider picks 0644 when left out.",
                },
                "sha256": {"type": "string", "computed": True},
                "size": {"type": "int", "computed": True, "description": "Bytes."},
                "id": {"type": "string", "computed": True},
            },
        },
    },
}

INPUTS = ("path", "content", "mode")


class ProtocolError(Exception):
    """A request the provider cannot serve; answered as a JSON-RPC error."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def log(message):
    print(f"[{NAME}] {message}", file=sys.stderr, flush=True)


def unknown(value):
    return isinstance(value, dict) and value == {"$mlinfra_unknown": True}


def error(summary, detail="", attribute=None):
    item = {"severity": "error", "summary": summary}
    if detail:
        item["detail"] = detail
    if attribute:
        item["attribute"] = attribute
    return item


class FilesProvider:
    def __init__(self):
        self.root = None

    # -- helpers -------------------------------------------------------------

    def require_root(self):
        if self.root is None:
            raise ProtocolError(-32000, "the provider is not configured: call `configure` with a `root` first")
        return self.root

    def full_path(self, relative):
        root = self.require_root()
        full = os.path.realpath(os.path.join(root, relative))
        if os.path.commonpath([full, root]) != root:
            raise ProtocolError(-32000, f"path {relative!r} leaves the root directory")
        return full

    def check(self, rtype, config):
        """Diagnostics for a text_file config; unknown values pass."""
        if rtype != "text_file":
            return [error(f"provider {NAME} has no resource type {rtype}", "Its only type is text_file.")]
        problems = []
        attributes = SCHEMA["resource_types"]["text_file"]["attributes"]
        for key in sorted(config):
            if key not in attributes:
                problems.append(error(f"unknown attribute `{key}` for text_file", "Attributes: path, content, mode.", key))
            elif attributes[key].get("computed") and not attributes[key].get("optional"):
                problems.append(error(f"`{key}` is set by the provider and cannot be written", "", key))
        for key in ("path", "content"):
            if key not in config or config[key] is None:
                problems.append(error(f"`{key}` is required for text_file", "", key))
        path = config.get("path")
        if path is not None and not unknown(path):
            if not isinstance(path, str) or not path:
                problems.append(error("`path` must be a non-empty string", "", "path"))
            elif os.path.isabs(path) or ".." in path.split("/"):
                problems.append(error(
                    f"`path` {path!r} must stay inside the root",
                    "Give a relative path without `..`, e.g. `notes/readme.txt`.", "path"))
        content = config.get("content")
        if content is not None and not unknown(content) and not isinstance(content, str):
            problems.append(error("`content` must be a string", "", "content"))
        mode = config.get("mode")
        if mode is not None and not unknown(mode):
            if not isinstance(mode, str) or not MODE_PATTERN.match(mode):
                problems.append(error(f"`mode` must be octal permissions like \"0644\", got {mode!r}", "", "mode"))
        return problems

    def describe(self, relative):
        """The attributes of the file as it is on disk, or None when it is gone."""
        full = self.full_path(relative)
        try:
            with open(full, "rb") as handle:
                data = handle.read()
            mode = stat.S_IMODE(os.stat(full).st_mode)
        except FileNotFoundError:
            return None
        return {
            "id": relative,
            "path": relative,
            "content": data.decode("utf-8", errors="replace"),
            "mode": f"{mode:04o}",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }

    def write(self, relative, content, mode):
        full = self.full_path(relative)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(full), prefix=".mlinfra-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(content.encode("utf-8"))
            os.chmod(temporary, int(mode, 8))
            os.replace(temporary, full)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise

    # -- methods -------------------------------------------------------------

    def schema(self, params):
        return SCHEMA

    def configure(self, params):
        config = params.get("config") or {}
        root = config.get("root")
        if not isinstance(root, str) or not root:
            return {"diagnostics": [error("provider files needs `root`", "Set `config: { root: files }` in providers.")]}
        base = params.get("working_directory") or os.getcwd()
        self.root = os.path.realpath(os.path.join(base, root))
        os.makedirs(self.root, exist_ok=True)
        log(f"managing files under {self.root}")
        return {"diagnostics": []}

    def validate(self, params):
        return {"diagnostics": self.check(params["type"], params.get("config") or {})}

    def plan(self, params):
        proposed = params.get("proposed") or {}
        problems = self.check(params["type"], proposed)
        if problems:
            return {"planned": proposed, "requires_replace": [], "diagnostics": problems}
        planned = dict(proposed)
        planned.setdefault("mode", "0644")
        if isinstance(planned["mode"], str):
            planned["mode"] = f"{int(planned['mode'], 8):04o}"
        planned["id"] = proposed["path"]
        content = proposed["content"]
        if unknown(content):
            planned["sha256"] = {"$mlinfra_unknown": True}
            planned["size"] = {"$mlinfra_unknown": True}
        else:
            data = content.encode("utf-8")
            planned["sha256"] = hashlib.sha256(data).hexdigest()
            planned["size"] = len(data)
        return {"planned": planned, "requires_replace": [], "diagnostics": []}

    def apply(self, params):
        action = params["action"]
        prior = params.get("prior")
        if action == "delete":
            if prior is not None:
                try:
                    os.unlink(self.full_path(prior["id"]))
                except FileNotFoundError:
                    pass
            return {"new": None, "diagnostics": []}
        config = params.get("config") or {}
        problems = self.check(params["type"], config)
        if problems:
            return {"new": prior, "diagnostics": problems}
        path = config["path"]
        if action == "create" and os.path.exists(self.full_path(path)):
            return {"new": None, "diagnostics": [error(
                f"{path} already exists",
                f"Import it with `mlinfra import {params['address']} {path}`, or remove the file.", "path")]}
        if prior is not None and prior["id"] != path:
            try:
                os.unlink(self.full_path(prior["id"]))
            except FileNotFoundError:
                pass
        mode = config.get("mode") or "0644"
        self.write(path, config["content"], mode)
        new = self.describe(path)
        return {"new": {"id": path, "attributes": new}, "diagnostics": []}

    def read(self, params):
        current = self.describe(params["id"])
        if current is None:
            return {"current": None, "diagnostics": []}
        return {"current": {"id": params["id"], "attributes": current}, "diagnostics": []}

    def import_(self, params):
        if params["type"] != "text_file":
            return {"imported": None, "diagnostics": [error(f"provider {NAME} has no resource type {params['type']}")]}
        current = self.describe(params["id"])
        if current is None:
            return {"imported": None, "diagnostics": [error(f"no file {params['id']} under {self.root}")]}
        return {"imported": {"id": params["id"], "attributes": current}, "diagnostics": []}


def answer(message_id, result=None, failure=None):
    message = {"jsonrpc": "2.0", "id": message_id}
    if failure is None:
        message["result"] = result
    else:
        message["error"] = failure
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def trace(method):
    """Appends each call's method name to $EXAMPLE_PROVIDER_TRACE, when set (tests read it)."""
    path = os.environ.get("EXAMPLE_PROVIDER_TRACE")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(method + "\n")


def serve():
    provider = FilesProvider()
    methods = {
        "schema": provider.schema,
        "configure": provider.configure,
        "validate": provider.validate,
        "plan": provider.plan,
        "apply": provider.apply,
        "read": provider.read,
        "import": provider.import_,
    }
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError as problem:
            answer(None, failure={"code": -32700, "message": f"parse error: {problem}"})
            continue
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
            answer(request.get("id") if isinstance(request, dict) else None,
                   failure={"code": -32600, "message": "invalid request"})
            continue
        message_id = request.get("id")
        method = request["method"]
        params = request.get("params") or {}
        trace(method)
        try:
            if method == "initialize":
                if params.get("protocol_version") != PROTOCOL_VERSION:
                    raise ProtocolError(-32001, f"unsupported protocol version {params.get('protocol_version')}: "
                                                f"this provider speaks {PROTOCOL_VERSION}")
                result = {"name": NAME, "version": VERSION, "protocol_version": PROTOCOL_VERSION}
            elif method == "shutdown":
                answer(message_id, None)
                return
            elif method in methods:
                result = methods[method](params)
            else:
                raise ProtocolError(-32601, f"method not found: {method}")
        except ProtocolError as problem:
            answer(message_id, failure={"code": problem.code, "message": problem.message})
            continue
        except (KeyError, TypeError) as problem:
            answer(message_id, failure={"code": -32602, "message": f"invalid params: {problem!r}"})
            continue
        except OSError as problem:
            answer(message_id, failure={"code": -32000, "message": f"{method} failed: {problem}"})
            continue
        if message_id is not None:
            answer(message_id, result)


if __name__ == "__main__":
    serve()
