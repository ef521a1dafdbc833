"""Kakao, Naver and LINE login, played by local HTTP servers that answer as each provider documents.

Each fake keeps the parts of the protocol Shoa relies on: the authorize endpoint redirects (302) to the
registered redirect URI with ``code`` and ``state``, or with ``error`` when the person declines; the token
endpoint checks the client, the redirect URI, the code (single use) and the PKCE verifier, and answers in the
provider's own shape, errors included; the user-info endpoint wants ``Authorization: Bearer <access token>``.
LINE adds an OpenID Connect ID token, signed ES256 with a key it publishes as a JWKS (or HS256 with the channel
secret, as its plain web login does).

Tests steer a fake through plain attributes: who logs in (``person``), whether they decline (``deny_consent``),
whether the token endpoint is down (``token_outage``), and for LINE how the ID token goes wrong.
"""

from __future__ import annotations

import abc
import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SHOA_BASE_URL = "http://shoa.test"

Answer = tuple[int, dict[str, str], bytes]


def json_answer(status: int, body: dict[str, Any]) -> Answer:
    return status, {"Content-Type": "application/json;charset=UTF-8"}, json.dumps(body).encode()


def redirect(location: str) -> Answer:
    return 302, {"Location": location}, b""


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Grant:
    """An authorization code as the provider remembers it until it is exchanged."""

    person: dict[str, Any]
    redirect_uri: str
    state: str
    code_challenge: str | None
    nonce: str | None
    scope: str


@dataclass
class FakeProvider(abc.ABC):
    """What every fake shares: client registration, consent, codes, tokens, and the HTTP plumbing."""

    name: ClassVar[str]
    person: dict[str, Any]
    client_id: str = field(default_factory=lambda: f"client-{secrets.token_hex(4)}")
    client_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    deny_consent: bool = False
    token_outage: bool = False
    """The token endpoint answers 503 with an HTML error page, as a gateway in front of it would."""
    token_requests: list[dict[str, str]] = field(default_factory=list)
    base_url: str = ""
    _codes: dict[str, Grant] = field(default_factory=dict)
    _access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def redirect_uri(self) -> str:
        return f"{SHOA_BASE_URL}/v1/auth/oauth/{self.name}/callback"

    @abc.abstractmethod
    def routes(self) -> dict[tuple[str, str], Callable[[dict[str, str], dict[str, str]], Answer]]:
        """(method, path) → handler, for this provider's endpoints."""

    @abc.abstractmethod
    def environ(self) -> dict[str, str]:
        """The SHOA_* settings that point Shoa at this fake."""

    # -- the authorize endpoint: the consent screen, then a redirect back to the app ----------------------------

    def authorize(self, query: dict[str, str], headers: dict[str, str]) -> Answer:
        if query.get("client_id") != self.client_id or query.get("redirect_uri") != self.redirect_uri:
            # Providers show an error page instead of redirecting to an address they do not know.
            return 400, {"Content-Type": "text/html"}, b"<h1>invalid client or redirect_uri</h1>"
        if query.get("response_type") != "code":
            return self.authorize_error(query, "unsupported_response_type", "response_type must be code")
        if self.deny_consent:
            return self.authorize_error(query, "access_denied", self.denial_description)
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = Grant(
                person=self.person,
                redirect_uri=query["redirect_uri"],
                state=query.get("state", ""),
                code_challenge=query.get("code_challenge") if query.get("code_challenge_method") == "S256" else None,
                nonce=query.get("nonce"),
                scope=query.get("scope", ""),
            )
        return redirect(f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}")

    denial_description: ClassVar[str] = "User denied access"

    def authorize_error(self, query: dict[str, str], error: str, description: str) -> Answer:
        params = {"error": error, "error_description": description, "state": query.get("state", "")}
        return redirect(f"{query['redirect_uri']}?{urlencode(params)}")

    # -- the token endpoint ------------------------------------------------------------------------------------

    def spend_code(self, code: str) -> Grant | None:
        """A code works once: the first exchange spends it, right or wrong."""
        with self._lock:
            return self._codes.pop(code, None)

    def issue_access_token(self, person: dict[str, Any]) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[token] = person
        return token

    def bearer(self, headers: dict[str, str]) -> dict[str, Any] | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self._lock:
            return self._access_tokens.get(token)

    def outage(self) -> Answer:
        return 503, {"Content-Type": "text/html"}, b"<html><body>503 Service Temporarily Unavailable</body></html>"

    @staticmethod
    def pkce_holds(grant: Grant, form: dict[str, str]) -> bool:
        return grant.code_challenge is None or s256(form.get("code_verifier", "")) == grant.code_challenge


class KakaoFake(FakeProvider):
    """Kakao Login REST API: kauth.kakao.com/oauth/{authorize,token} and kapi.kakao.com/v2/user/me."""

    name = "kakao"

    def routes(self) -> dict[tuple[str, str], Callable[[dict[str, str], dict[str, str]], Answer]]:
        return {
            ("GET", "/oauth/authorize"): self.authorize,
            ("POST", "/oauth/token"): self.token,
            ("GET", "/v2/user/me"): self.user_me,
        }

    def environ(self) -> dict[str, str]:
        return {
            "SHOA_KAKAO_CLIENT_ID": self.client_id,
            "SHOA_KAKAO_CLIENT_SECRET": self.client_secret,
            "SHOA_KAKAO_AUTHORIZE_URL": f"{self.base_url}/oauth/authorize",
            "SHOA_KAKAO_TOKEN_URL": f"{self.base_url}/oauth/token",
            "SHOA_KAKAO_USERINFO_URL": f"{self.base_url}/v2/user/me",
        }

    def token(self, form: dict[str, str], headers: dict[str, str]) -> Answer:
        self.token_requests.append(form)
        if self.token_outage:
            return self.outage()
        grant = self.check_token_request(form)
        if not isinstance(grant, Grant):
            return grant
        return json_answer(
            200,
            {
                "access_token": self.issue_access_token(grant.person),
                "token_type": "bearer",
                "refresh_token": secrets.token_urlsafe(32),
                "expires_in": 43199,
                "scope": "account_email profile_nickname gender birthday birthyear age_range phone_number",
                "refresh_token_expires_in": 5183999,
            },
        )

    def check_token_request(self, form: dict[str, str]) -> Grant | Answer:
        if form.get("grant_type") != "authorization_code":
            return json_answer(400, {"error": "unsupported_grant_type", "error_description": "unsupported grant"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return json_answer(
                401, {"error": "invalid_client", "error_description": "Bad client credentials", "error_code": "KOE010"}
            )
        code = form.get("code", "")
        grant = self.spend_code(code)
        if grant is None:
            return json_answer(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": f"authorization code not found for code={code}",
                    "error_code": "KOE320",
                },
            )
        if form.get("redirect_uri") != grant.redirect_uri:
            return json_answer(400, {"error": "invalid_grant", "error_description": "Redirect URI mismatch."})
        if not self.pkce_holds(grant, form):
            return json_answer(400, {"error": "invalid_grant", "error_description": "PKCE verification failed."})
        return grant

    def user_me(self, query: dict[str, str], headers: dict[str, str]) -> Answer:
        person = self.bearer(headers)
        if person is None:
            return json_answer(401, {"msg": "this access token does not exist", "code": -401})
        return json_answer(200, person)


class NaverFake(FakeProvider):
    """Naver Login: nid.naver.com/oauth2.0/{authorize,token} and openapi.naver.com/v1/nid/me.

    Naver documents no PKCE (it ignores the parameters), wants the ``state`` again at the token endpoint, and
    answers token errors with HTTP 200 and an ``error`` field.
    """

    name = "naver"
    denial_description = "Canceled By User"

    def routes(self) -> dict[tuple[str, str], Callable[[dict[str, str], dict[str, str]], Answer]]:
        return {
            ("GET", "/oauth2.0/authorize"): self.authorize,
            ("POST", "/oauth2.0/token"): self.token,
            ("GET", "/v1/nid/me"): self.nid_me,
        }

    def environ(self) -> dict[str, str]:
        return {
            "SHOA_NAVER_CLIENT_ID": self.client_id,
            "SHOA_NAVER_CLIENT_SECRET": self.client_secret,
            "SHOA_NAVER_AUTHORIZE_URL": f"{self.base_url}/oauth2.0/authorize",
            "SHOA_NAVER_TOKEN_URL": f"{self.base_url}/oauth2.0/token",
            "SHOA_NAVER_USERINFO_URL": f"{self.base_url}/v1/nid/me",
        }

    def token(self, form: dict[str, str], headers: dict[str, str]) -> Answer:
        self.token_requests.append(form)
        if self.token_outage:
            return self.outage()
        if form.get("grant_type") != "authorization_code":
            return json_answer(200, {"error": "unsupported_response_type", "error_description": "grant_type"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return json_answer(200, {"error": "invalid_client", "error_description": "client_secret is invalid"})
        grant = self.spend_code(form.get("code", ""))
        if grant is None or form.get("state") != grant.state:
            return json_answer(200, {"error": "invalid_request", "error_description": "no valid data in session"})
        return json_answer(
            200,
            {
                "access_token": self.issue_access_token(grant.person),
                "refresh_token": secrets.token_urlsafe(32),
                "token_type": "bearer",
                "expires_in": "3600",
            },
        )

    def nid_me(self, query: dict[str, str], headers: dict[str, str]) -> Answer:
        person = self.bearer(headers)
        if person is None:
            return json_answer(401, {"resultcode": "024", "message": "Authentication failed (인증 실패하였습니다.)"})
        return json_answer(200, {"resultcode": "00", "message": "success", "response": person})


@dataclass
class LineFake(FakeProvider):
    """LINE Login v2.1: access.line.me/oauth2/v2.1/authorize, api.line.me/oauth2/v2.1/{token,certs}.

    The token response carries an ID token: ES256 with the published key when the request says
    ``id_token_key_type=JWK`` (as LINE's SDKs do), HS256 with the channel secret otherwise.
    """

    name = "line"
    issuer = "https://access.line.me"
    denial_description = "The user has denied the approval"
    sign_hs256: bool = False
    """Sign with the channel secret even when asked for JWK, as a plain web login's token is."""
    id_token_changes: dict[str, Any] = field(default_factory=dict)
    """Claims to put in the next ID tokens in place of the right ones (another ``aud``, ``nonce``...)."""
    tamper_with_id_token: bool = False
    """Change the payload after signing, keeping the signature."""
    signing_key: ECKey = field(
        default_factory=lambda: ECKey.generate_key(
            "P-256", parameters={"kid": secrets.token_hex(8), "alg": "ES256", "use": "sig"}, private=True
        )
    )

    def routes(self) -> dict[tuple[str, str], Callable[[dict[str, str], dict[str, str]], Answer]]:
        return {
            ("GET", "/oauth2/v2.1/authorize"): self.authorize,
            ("POST", "/oauth2/v2.1/token"): self.token,
            ("GET", "/oauth2/v2.1/certs"): self.certs,
        }

    def environ(self) -> dict[str, str]:
        return {
            "SHOA_LINE_LOGIN_CLIENT_ID": self.client_id,
            "SHOA_LINE_LOGIN_CLIENT_SECRET": self.client_secret,
            "SHOA_LINE_LOGIN_AUTHORIZE_URL": f"{self.base_url}/oauth2/v2.1/authorize",
            "SHOA_LINE_LOGIN_TOKEN_URL": f"{self.base_url}/oauth2/v2.1/token",
            "SHOA_LINE_LOGIN_JWKS_URL": f"{self.base_url}/oauth2/v2.1/certs",
        }

    def authorize(self, query: dict[str, str], headers: dict[str, str]) -> Answer:
        if "openid" not in query.get("scope", "").split() and query.get("redirect_uri") == self.redirect_uri:
            return self.authorize_error(query, "invalid_scope", "scope must include openid")
        return super().authorize(query, headers)

    def token(self, form: dict[str, str], headers: dict[str, str]) -> Answer:
        self.token_requests.append(form)
        if self.token_outage:
            return self.outage()
        if form.get("grant_type") != "authorization_code":
            return json_answer(400, {"error": "unsupported_grant_type", "error_description": "unsupported grant"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return json_answer(400, {"error": "invalid_client", "error_description": "invalid client_secret"})
        grant = self.spend_code(form.get("code", ""))
        if grant is None or form.get("redirect_uri") != grant.redirect_uri:
            return json_answer(400, {"error": "invalid_grant", "error_description": "invalid authorization code"})
        if not self.pkce_holds(grant, form):
            return json_answer(400, {"error": "invalid_grant", "error_description": "invalid code_verifier"})
        return json_answer(
            200,
            {
                "access_token": self.issue_access_token(grant.person),
                "expires_in": 2592000,
                "id_token": self.id_token(grant, jwk=form.get("id_token_key_type") == "JWK"),
                "refresh_token": secrets.token_urlsafe(32),
                "scope": grant.scope,
                "token_type": "Bearer",
            },
        )

    def id_token(self, grant: Grant, *, jwk: bool) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.person["sub"],
            "aud": self.client_id,
            "exp": now + 3600,
            "iat": now,
            "amr": ["pwd"],
            "name": grant.person.get("name"),
            "picture": "https://profile.line-scdn.net/0h-demo",
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        if "email" in grant.scope.split() and grant.person.get("email"):
            claims["email"] = grant.person["email"]
        claims |= self.id_token_changes
        if jwk and not self.sign_hs256:
            header = {"typ": "JWT", "alg": "ES256", "kid": self.signing_key.kid}
            token = jwt.encode(header, claims, self.signing_key, algorithms=["ES256"])
        else:
            token = jwt.encode({"typ": "JWT", "alg": "HS256"}, claims, OctKey.import_key(self.client_secret))
        if self.tamper_with_id_token:
            head, _, signature = token.split(".")
            forged = claims | {"sub": "U" + "f" * 32}
            body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
            token = f"{head}.{body}.{signature}"
        return token

    def certs(self, query: dict[str, str], headers: dict[str, str]) -> Answer:
        return json_answer(200, {"keys": [self.signing_key.as_dict(private=False)]})


def _handler_for(provider: FakeProvider) -> type[BaseHTTPRequestHandler]:
    routes = provider.routes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            self._answer("GET", parts.path, dict(parse_qsl(parts.query)))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            self._answer("POST", urlsplit(self.path).path, form)

        def _answer(self, method: str, path: str, params: dict[str, str]) -> None:
            route = routes.get((method, path))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, answer_headers, body = route(params, headers) if route else json_answer(404, {"error": "nf"})
            self.send_response(status)
            for name, value in answer_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


Provider = TypeVar("Provider", bound=FakeProvider)


def serve(provider: Provider) -> Iterator[Provider]:
    """Run ``provider`` on a free local port for the duration of the generator (a fixture body)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(provider))
    provider.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
