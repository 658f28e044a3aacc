"""The reference under load: py-oidc-auth (PyPI) protecting the same routes as
tests/load/bench_app.rs, for the Rust/Python ratios of the load benchmark (tests/load/run.sh).

    uvicorn py_app:make_fastapi --factory --workers 2          # FastAPI
    gunicorn --workers 2 'py_app:make_flask()'                 # Flask

Both read BENCH_DISCOVERY_URL (the mock provider of tests/load/mock_idp.rs) and BENCH_AUDIENCE
(default "oidc-actix-test", the audience of its tokens). Every other option keeps its
py-oidc-auth default. Routes, each answering a short text body:

    GET /public      no protection
    GET /protected   auth.required()
    GET /admin       auth.required(claims={"groups": ["admins"]}, scopes="admin")
"""

import os

DISCOVERY_URL = os.environ.get("BENCH_DISCOVERY_URL", "")
AUDIENCE = os.environ.get("BENCH_AUDIENCE", "oidc-actix-test")
ADMIN_CLAIMS = {"groups": ["admins"]}


def _options():
    if not DISCOVERY_URL:
        raise RuntimeError("set BENCH_DISCOVERY_URL to the provider's discovery URL")
    return {"client_id": AUDIENCE, "discovery_url": DISCOVERY_URL, "audience": AUDIENCE}


def make_fastapi():
    """The FastAPI application (an app factory for `uvicorn --factory`)."""
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse
    from py_oidc_auth.fastapi_auth import FastApiOIDCAuth
    from py_oidc_auth.schema import IDToken

    auth = FastApiOIDCAuth(**_options())
    app = FastAPI()

    @app.get("/public", response_class=PlainTextResponse)
    async def public() -> str:
        return "hello anonymous"

    @app.get("/protected", response_class=PlainTextResponse)
    async def protected(token: IDToken = auth.required()) -> str:
        return f"hello {token.sub}"

    @app.get("/admin", response_class=PlainTextResponse)
    async def admin(
        token: IDToken = auth.required(claims=ADMIN_CLAIMS, scopes="admin"),
    ) -> str:
        return f"hello {token.sub}"

    return app


def make_flask():
    """The Flask application (`gunicorn 'py_app:make_flask()'`)."""
    from flask import Flask
    from py_oidc_auth.flask_auth import FlaskOIDCAuth

    auth = FlaskOIDCAuth(**_options())
    app = Flask(__name__)

    @app.get("/public")
    def public():
        return "hello anonymous", 200, {"Content-Type": "text/plain"}

    @app.get("/protected")
    @auth.required()
    def protected(token):
        return f"hello {token.sub}", 200, {"Content-Type": "text/plain"}

    @app.get("/admin")
    @auth.required(claims=ADMIN_CLAIMS, scopes="admin")
    def admin(token):
        return f"hello {token.sub}", 200, {"Content-Type": "text/plain"}

    return app
