"""A connector written in Python and built with componentize-py.

The host's tests use it to check that a component from another toolchain
runs in the sandbox, and that its attempts to read files, environment
variables and sockets get nothing.
"""

import json
import os
import socket

import wit_world
from componentize_py_types import Err
from wit_world.imports import http, log, types


def attempt(action):
    """Runs `action`, returning what it got or the error it met."""
    try:
        return {"ok": action()}
    except Exception as error:  # the point is to report any failure
        return {"error": f"{type(error).__name__}: {error}"}


def read_file():
    with open("/etc/passwd") as f:
        return f.read(64)


def list_dir():
    return os.listdir("/")


def open_socket(port):
    def run():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(("127.0.0.1", port))
        return "connected"

    return run


class WitWorld(wit_world.WitWorld):
    def info(self) -> types.ConnectorInfo:
        return types.ConnectorInfo(
            id="python-probe",
            name="Python probe",
            version="0.1.0",
            description="A connector written in Python, for testing the sandbox.",
            config_schema=json.dumps(
                {
                    "type": "object",
                    "properties": {
                        "port": {"type": "integer"},
                        "url": {"type": "string"},
                        "token": {"type": "string", "writeOnly": True},
                    },
                }
            ),
            capabilities=types.Capabilities(http=["http://127.0.0.1:*"], ldap=[]),
            features=types.Features.SYNC,
        )

    def test_connection(self, config: str) -> str:
        settings = json.loads(config)
        print(f"python probe starting, token {settings.get('token', '')}")
        log.write(log.Level.INFO, "probing the sandbox")
        report = {
            "file": attempt(read_file),
            "listdir": attempt(list_dir),
            "env": dict(os.environ),
            "socket": attempt(open_socket(int(settings.get("port", 9)))),
        }
        url = settings.get("url")
        if url:
            request = http.Request(
                method="GET",
                url=url,
                headers=[],
                body=None,
                timeout_ms=5000,
                follow_redirects=True,
            )
            try:
                response = http.send(request)
                report["http"] = {"status": response.status, "body": response.body.decode()}
            except Err as error:
                report["http"] = {"error": repr(error.value)}
        return json.dumps(report)

    def choices(self, config: str, field: str) -> list[types.Choice]:
        return []

    def sync(self, request: types.SyncRequest) -> types.SyncPage:
        records = [
            types.Record(
                kind="item",
                external_id=str(i),
                fields=json.dumps({"name": f"python item {i}"}),
                deleted=False,
                version=None,
            )
            for i in range(3)
        ]
        return types.SyncPage(records=records, cursor=None, has_more=False)

    def push(self, config: str, change: types.Change) -> types.PushResult:
        raise Err(types.ConnectorError_Fatal("the Python probe does not push"))

    def handle_webhook(self, config: str, request: types.WebhookRequest) -> types.WebhookOutcome:
        raise Err(types.ConnectorError_Fatal("the Python probe takes no webhooks"))
