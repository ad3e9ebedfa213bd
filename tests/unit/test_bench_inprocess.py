"""bench/inprocess.py, bench/stages.py and bench/instructions.py, their pure parts: which stage
a function belongs to, the innermost-boundary rule, the WSGI environ of a request, --only.
The tools themselves start PostgreSQL and Redis and run for minutes: not here."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth import hashers
from django.db.models.query import QuerySet
from django.http import HttpResponse
from django.urls.resolvers import URLResolver
from django.utils.deprecation import MiddlewareMixin
from oauthlib.oauth2.rfc6749.endpoints.token import TokenEndpoint
from psycopg import Cursor

from audit import recording
from bench import inprocess, instructions, stages
from idp import keys, tokens
from idp.validators import TesseraOAuth2Validator
from tenants.context import get_current_tenant
from tenants.middleware import TenantMiddleware


def stage(function) -> str | None:
    return stages.classify(function.__code__)[0]


def test_functions_belong_to_their_stages():
    assert stage(TokenEndpoint.create_token_response) == "oauthlib"
    assert stage(keys.sign_jwt) == "signing"
    assert stage(inprocess.count_statements) == "sql"
    assert stage(Cursor.execute) == "sql"
    assert stage(inprocess.call) == stages.OUTSIDE
    assert stage(TenantMiddleware.__call__) == stages.MIDDLEWARE
    assert stage(MiddlewareMixin.__call__) == stages.MIDDLEWARE
    assert stage(recording.record) == "audit"
    assert stage(URLResolver.resolve) == "urls"
    assert stage(TesseraOAuth2Validator.authenticate_client) == "client_auth"
    assert stage(TesseraOAuth2Validator.save_bearer_token) == "view"
    assert stage(QuerySet.first) == "orm"
    assert stage(hashers.check_password) == "hashing"
    assert stages.classify(tokens.generate_opaque_token.__code__) == ("view", stages.SOFT)
    assert stages.classify(get_current_tenant.__code__) == ("view", stages.SOFT)  # project code, no rule
    assert stage(stages.measure) == stages.OUTSIDE  # the benchmark's own code


def frames(*functions, owner=None):
    """A fake stack, innermost first."""
    frame = None
    for function in reversed(functions):
        frame = SimpleNamespace(f_code=function.__code__, f_back=frame, f_locals={"self": owner})
    return frame


def test_the_innermost_boundary_wins():
    sampler = stages.Sampler(0.001)
    # Tessera's token generator, called back by oauthlib: the app's stage, not oauthlib's.
    assert sampler.stage_of(frames(tokens.generate_opaque_token, TokenEndpoint.create_token_response,
                                   TenantMiddleware.__call__)) == "view"
    # The same code called by a middleware is the middleware's.
    assert sampler.stage_of(frames(tokens.generate_opaque_token, TenantMiddleware.__call__),
                            ) == "mw:?"
    middleware = TenantMiddleware(lambda request: HttpResponse())
    assert sampler.stage_of(frames(get_current_tenant, MiddlewareMixin.__call__, owner=middleware),
                            ) == "mw:TenantMiddleware"
    assert sampler.stage_of(frames(Cursor.execute, QuerySet.first, TokenEndpoint.create_token_response)) == "sql"
    assert sampler.stage_of(frames(get_current_tenant)) == stages.OUTSIDE  # no boundary: between requests


def built_at_run_time(name: str) -> type:
    """A class made as core.stacks makes its page/back-channel middleware wrappers."""
    def __call__(self, request):
        return None
    return type(name, (), {"__call__": __call__})


def test_methods_of_classes_built_at_run_time_count_for_a_middleware_only():
    sampler = stages.Sampler(0.001)
    wrapper = built_at_run_time("PageSessionMiddleware")
    assert stages.classify(wrapper.__call__.__code__) == (stages.MIDDLEWARE, stages.MAYBE)
    assert sampler.stage_of(frames(wrapper.__call__, owner=wrapper())) == "mw:PageSessionMiddleware"
    other = built_at_run_time("Something")  # not a middleware: no boundary
    assert sampler.stage_of(frames(other.__call__, owner=other())) == stages.OUTSIDE


def test_the_environ_carries_the_headers_as_wrk_sends_them():
    request = inprocess.Request("POST", "/t/bench/token?x=1", b"grant_type=client_credentials",
                                {"Content-Type": inprocess.FORM, "Authorization": "Basic abc", "Cookie": "a=b"})
    environ = request.environ
    assert environ["PATH_INFO"] == "/t/bench/token" and environ["QUERY_STRING"] == "x=1"
    assert environ["CONTENT_TYPE"] == inprocess.FORM
    assert environ["CONTENT_LENGTH"] == str(len(b"grant_type=client_credentials"))
    assert environ["HTTP_AUTHORIZATION"] == "Basic abc" and environ["HTTP_COOKIE"] == "a=b"
    assert environ["HTTP_HOST"] == "127.0.0.1:8000"


def test_only_keeps_the_contract_order_and_refuses_unknown_keys():
    assert inprocess.parse_only(None) == list(inprocess.SCENARIOS)
    assert inprocess.parse_only("login,floor") == ["floor", "login"]
    with pytest.raises(SystemExit):
        inprocess.parse_only("floor,nope")


def test_logins_count_fewer_requests():
    assert instructions.counts("cc_jwt", 40, 20) == (20, 40)
    assert instructions.counts("login_mfa", 40, 20) == (2, 5)
