"""A SOAP service for the SOAP connector's tests, built with spyne.

Run with the tools venv's python (scripts/setup-python-tools.sh):

    .tools/venv/bin/python tests/soap/service.py [PORT]

It listens on 127.0.0.1 (PORT 0, the default, picks a free one), prints
`listening on PORT` once ready, and serves:

- /soap11 (WSDL at /soap11?wsdl) and /soap12 (WSDL at /soap12?wsdl): the
  same `Items` service in SOAP 1.1 and SOAP 1.2,
  - GetItems(since): the items updated after `since` (all when empty),
  - GetItem(id): one item, or a Fault `Client.NotFound`,
  - GetSecretItems(): the items, only with a valid WS-Security
    UsernameToken (OASIS UsernameToken Profile 1.1, PasswordText or
    PasswordDigest) for user `soapuser`, password `s3cret-Pa55`;
- POST /_add?id=&name=&updated=: adds or replaces an item (test control);
- GET /_calls: what each SOAP call received, as JSON (test inspection).

spyne has no WS-Security, so the UsernameToken check is ours: a spyne
`method_call` event handler that reads the request's wsse:Security header
and raises a Fault (`Client.FailedAuthentication`) when it does not verify.
"""

import base64
import datetime
import hashlib
import json
import sys
import threading
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from socketserver import ThreadingMixIn

from spyne import Application, ComplexModel, Fault, Iterable, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11, Soap12
from spyne.server.wsgi import WsgiApplication

NAMESPACE = "urn:cube:test:items"
USERNAME = "soapuser"
PASSWORD = "s3cret-Pa55"

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TOKEN_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_TEXT = TOKEN_PROFILE + "#PasswordText"
PASSWORD_DIGEST = TOKEN_PROFILE + "#PasswordDigest"
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
# How far the token's Created may be from our clock (the profile leaves it
# to the service; five minutes is the usual choice).
FRESHNESS = datetime.timedelta(minutes=5)

LOCK = threading.Lock()
ITEMS = {
    "1": {"id": "1", "name": "Pump <4> & valve", "updated": "2026-01-01T10:00:00Z"},
    "2": {"id": "2", "name": "Boiler", "updated": "2026-01-02T10:00:00Z"},
    "3": {"id": "3", "name": "Chiller", "updated": "2026-01-03T10:00:00Z"},
}
CALLS = []
SEEN_NONCES = set()


class Item(ComplexModel):
    __namespace__ = NAMESPACE
    id = Unicode
    name = Unicode
    updated = Unicode


def items_since(since):
    with LOCK:
        items = sorted(ITEMS.values(), key=lambda i: (i["updated"], i["id"]))
    return [Item(**i) for i in items if not since or i["updated"] > since]


class Items(ServiceBase):
    @rpc(Unicode, _returns=Iterable(Item))
    def GetItems(ctx, since):
        record(ctx, since=since)
        return items_since(since)

    @rpc(Unicode(min_occurs=1), _returns=Item)
    def GetItem(ctx, id):
        record(ctx, id=id)
        with LOCK:
            item = ITEMS.get(id)
        if item is None:
            raise Fault(faultcode="Client.NotFound", faultstring=f"There is no item {id}.")
        return Item(**item)

    @rpc(_returns=Iterable(Item))
    def GetSecretItems(ctx):
        record(ctx)
        return items_since(None)


def record(ctx, **params):
    headers = ctx.transport.req_env
    with LOCK:
        CALLS.append(
            {
                "operation": ctx.method_request_string.split("}")[-1],
                "params": params,
                "soap_action": headers.get("HTTP_SOAPACTION"),
                "content_type": headers.get("CONTENT_TYPE"),
                "username": (ctx.udc or {}).get("username"),
                "password_type": (ctx.udc or {}).get("password_type"),
            }
        )


def refuse(reason):
    # WS-Security's fault code (SOAP Message Security 1.1, section 12);
    # spyne qualifies it as a Client (1.2: Sender) fault.
    return Fault(faultcode="Client.FailedAuthentication", faultstring=reason)


def parse_created(text):
    try:
        created = datetime.datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        try:
            created = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            return created.astimezone(datetime.timezone.utc)
        except ValueError:
            raise refuse(f"The Created value {text!r} is not a UTC dateTime.")
    return created.replace(tzinfo=datetime.timezone.utc)


def check_username_token(ctx):
    """The WS-Security check for GetSecretItems, per the UsernameToken
    Profile 1.1: PasswordText compares the password; PasswordDigest is
    Base64(SHA-1(nonce + created + password)) with the nonce decoded from
    Base64, a fresh Created and a nonce never seen before."""
    if ctx.method_request_string.split("}")[-1] != "GetSecretItems":
        return
    envelope = ctx.in_document
    tokens = envelope.findall(f".//{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    if not tokens:
        raise refuse("This operation needs a WS-Security UsernameToken.")
    token = tokens[0]
    username = (token.findtext(f"{{{WSSE}}}Username") or "").strip()
    password = token.find(f"{{{WSSE}}}Password")
    if password is None:
        raise refuse("The UsernameToken has no Password.")
    kind = password.get("Type", PASSWORD_TEXT)
    given = (password.text or "").strip()
    if username != USERNAME:
        raise refuse("The security token could not be authenticated or authorized.")
    if kind == PASSWORD_TEXT:
        ok = given == PASSWORD
    elif kind == PASSWORD_DIGEST:
        nonce_element = token.find(f"{{{WSSE}}}Nonce")
        created_text = token.findtext(f"{{{WSU}}}Created")
        if nonce_element is None or created_text is None:
            raise refuse("A PasswordDigest needs a Nonce and a Created.")
        encoding = nonce_element.get("EncodingType", BASE64_BINARY)
        if encoding != BASE64_BINARY:
            raise refuse(f"Unsupported Nonce EncodingType {encoding}.")
        try:
            nonce = base64.b64decode((nonce_element.text or "").strip(), validate=True)
        except ValueError:
            raise refuse("The Nonce is not Base64.")
        created = parse_created(created_text)
        now = datetime.datetime.now(datetime.timezone.utc)
        if abs(now - created) > FRESHNESS:
            raise refuse(f"The token was created at {created_text}, too far from {now:%Y-%m-%dT%H:%M:%SZ}.")
        expected = base64.b64encode(
            hashlib.sha1(nonce + created_text.encode() + PASSWORD.encode()).digest()
        ).decode()
        ok = given == expected
        if ok:
            with LOCK:
                if nonce in SEEN_NONCES:
                    raise refuse("The Nonce was used before (a replayed message).")
                SEEN_NONCES.add(nonce)
    else:
        raise refuse(f"Unsupported password type {kind}.")
    if not ok:
        raise refuse("The security token could not be authenticated or authorized.")
    ctx.udc = {"username": username, "password_type": kind.split("#")[-1]}


def application(protocol):
    app = Application(
        [Items],
        tns=NAMESPACE,
        name="Items",
        in_protocol=protocol(validator="lxml"),
        out_protocol=protocol(),
    )
    app.event_manager.add_listener("method_call", check_username_token)
    return WsgiApplication(app)


SOAP11 = application(Soap11)
SOAP12 = application(Soap12)


def control(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/_add":
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        with LOCK:
            ITEMS[query["id"]] = {
                "id": query["id"],
                "name": query.get("name", ""),
                "updated": query["updated"],
            }
        body = b"added"
    elif path == "/_calls":
        with LOCK:
            body = json.dumps(CALLS).encode()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def router(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.startswith("/soap11"):
        return SOAP11(environ, start_response)
    if path.startswith("/soap12"):
        return SOAP12(environ, start_response)
    return control(environ, start_response)


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = make_server("127.0.0.1", port, router, ThreadingServer, QuietHandler)
    print(f"listening on {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
