"""Drives the real py-oidc-auth-client against an oidc-actix server (for tests/e2e_client.rs).

    python compat.py MODE --host URL --store FILE [--timeout S] [--redirect-ports P,P,...]

MODE:

``authenticate``
    ``py_oidc_auth_client.authenticate(host, store=..., timeout=...)``, the library's main entry
    point as a user calls it: cached token, else refresh, else the device flow, and the code flow
    when the device route answers 503.
``refresh``
    Marks the access token cached in ``--store`` as expired (as if its lifetime had passed), then
    calls ``authenticate`` the same way: the client must refresh with its refresh token.
``code-flow``
    ``CodeFlow(host, store=..., timeout=..., redirect_ports=...).authenticate(force=True)``: the
    browser login, finished by the client's own local callback server on a loopback port.

The client runs unmodified, with its own HTTP code. Two of its functions are wrapped, each still
calling the original, to report what happened:

* ``flows.pprint``, which shows the user the device code and verification URI, or the login URL;
* ``BaseFlow._post_form``, through which the client makes every request to the server.

Browser opening is disabled by the caller (``BROWSER=true``). Every event is one stdout line,
``COMPAT <json>``:

* ``{"event": "version", "version": ...}`` first;
* ``{"event": "display", "text": ..., "args": {...}}`` for each message the client shows;
* ``{"event": "request", "url": ..., "form": {...}, "status": ..., "body": ...}`` for each request
  (``form`` as sent: the client drops empty values; ``body`` is the JSON answer, or what the
  client made of an error answer);
* ``{"event": "token", "token": {...}}`` with what the client returned, then exit 0;
* ``{"event": "error", "kind": ..., "message": ..., "status_code": ...}`` then exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import traceback
from typing import Any, Dict, Mapping, Optional

import py_oidc_auth_client
from py_oidc_auth_client import AuthError, CodeFlow, TokenStore, authenticate
from py_oidc_auth_client import flows


def emit(event: str, **fields: Any) -> None:
    line = json.dumps({"event": event, **fields}, default=str)
    print(f"COMPAT {line}", flush=True)


def instrument() -> None:
    original_pprint = flows.pprint
    original_post_form = flows.BaseFlow._post_form

    def pprint(text: str, **args: Any) -> None:
        emit("display", text=text, args=args)
        original_pprint(text, **args)

    async def post_form(
        self: flows.BaseFlow,
        url: str,
        data: Optional[Mapping[str, Optional[str]]] = None,
    ) -> Dict[str, Any]:
        form = {k: v for (k, v) in (data or {}).items() if v}
        try:
            body = await original_post_form(self, url, data)
        except AuthError as error:
            emit(
                "request",
                url=url,
                form=form,
                status=error.status_code,
                body=error.detail,
                message=error.message,
            )
            raise
        emit("request", url=url, form=form, status=200, body=body)
        return body

    flows.pprint = pprint
    flows.BaseFlow._post_form = post_form  # type: ignore[method-assign]


def expire_access_token(store: TokenStore, host: str) -> None:
    token = store.get(host)
    if not token:
        raise SystemExit(f"no cached token for {host} in the store")
    if not token.get("refresh_token"):
        raise SystemExit(f"the cached token for {host} has no refresh token: {token}")
    expired = dict(token)
    expired["expires"] = 0
    store.put(host, expired)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["authenticate", "refresh", "code-flow"])
    parser.add_argument("--host", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--timeout", type=int, default=30)
    parser.add_argument("--redirect-ports", default="")
    options = parser.parse_args()
    ports = [int(p) for p in options.redirect_ports.split(",") if p] or None

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("py_oidc_auth_client").setLevel(logging.DEBUG)
    emit("version", version=py_oidc_auth_client.__version__)
    instrument()

    store = TokenStore(options.store)
    try:
        if options.mode == "code-flow":
            flow = CodeFlow(
                options.host,
                store=store,
                timeout=options.timeout,
                redirect_ports=ports,
            )
            token = asyncio.run(flow.authenticate(force=True))
        else:
            if options.mode == "refresh":
                expire_access_token(store, options.host)
            token = authenticate(
                options.host,
                store=store,
                timeout=options.timeout,
                redirect_ports=ports,
            )
    except AuthError as error:
        emit(
            "error",
            kind="AuthError",
            message=str(error),
            status_code=error.status_code,
        )
        return 1
    except Exception as error:  # noqa: BLE001 - reported to the Rust side
        traceback.print_exc()
        emit("error", kind=type(error).__name__, message=str(error), status_code=None)
        return 1
    emit("token", token=dict(token))
    return 0


if __name__ == "__main__":
    sys.exit(main())
