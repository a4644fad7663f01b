"""Exercise 10 is graded in-process, with ``wsgiref.validate.validator`` around the router and around
every handler, through httpx's ``WSGITransport`` — and, where the path must carry non-ASCII bytes the
way a real server delivers them (latin-1 native strings), with a direct environ built by
``wsgiref.util.setup_testing_defaults``. ``Mount`` is checked against ``wsgiref.util.shift_path_info``
and against a real Flask app, whose ``url_for`` and ``request.script_root`` must see the mount point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from wsgiref.util import setup_testing_defaults, shift_path_info
from wsgiref.validate import validator

import flask
import httpx
import pytest

from testkit.serving import CLIENT_TIMEOUT
from testkit.wsgi_peers import KeptAlive, waitress_serving
from routing import Mount, Router, TrailingSlashMiddleware

# Any WSGIWarning from the validator fails the test.
pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


class Handler:
    """A handler app that answers ``<name>`` and remembers the environ of every call."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.environs: list[dict] = []
        # The router calls the validator, the validator calls us: every handler is checked.
        self.app = validator(self._app)

    def _app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        self.environs.append(dict(environ))
        body = self.name.encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    @property
    def params(self) -> dict | None:
        return self.environs[-1].get("router.params") if self.environs else None


def client(app: Callable) -> httpx.Client:
    transport = httpx.WSGITransport(app=validator(app))
    return httpx.Client(transport=transport, base_url="http://testserver", timeout=CLIENT_TIMEOUT)


def request(app: Callable, method: str, path: str, **kwargs) -> httpx.Response:
    with client(app) as c:
        return c.request(method, path, **kwargs)


def make_environ(path: str, method: str = "GET", script_name: str = "", query: str = "") -> dict:
    environ: dict = {"REQUEST_METHOD": method, "SCRIPT_NAME": script_name, "PATH_INFO": path, "QUERY_STRING": query}
    setup_testing_defaults(environ)
    return environ


def call(app: Callable, environ: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    seen: list = []

    def start_response(status, headers, exc_info=None):
        seen[:] = [status, headers]
        return lambda data: None

    iterable = validator(app)(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        iterable.close()
    return seen[0], seen[1], body


def router_with(*routes: tuple[str, Handler, list[str]]) -> Router:
    router = Router()
    for pattern, handler, methods in routes:
        router.add_route(pattern, handler.app, methods)
    return router


# --------------------------------------------------------------------------------------------
# Router: static routes, decorators, parameters
# --------------------------------------------------------------------------------------------


@pytest.mark.spec("PEP 3333 §environ Variables (PATH_INFO)")
def test_a_static_route() -> None:
    hello = Handler("hello")
    response = request(router_with(("/hello", hello, ["GET"])), "GET", "/hello")
    assert (response.status_code, response.text) == (200, "hello"), (
        f"expected the /hello handler's 200 'hello', got {response.status_code} {response.text[:60]!r}"
    )


@pytest.mark.spec("RFC 9110 §9 (methods)")
def test_decorators_route_by_method() -> None:
    router = Router()
    listing, creating, replacing = Handler("list"), Handler("create"), Handler("replace")
    router.get("/items")(listing.app)
    router.post("/items")(creating.app)
    router.route("/items", methods=["put"])(replacing.app)
    with client(router) as c:
        got = [c.get("/items").text, c.post("/items").text, c.put("/items").text]
    assert got == ["list", "create", "replace"], (
        f"expected GET, POST and PUT /items to reach list, create and replace, got {got!r}"
    )


@pytest.mark.spec("(the router's contract: methods default to GET)")
def test_methods_default_to_get() -> None:
    router = Router()
    plain, decorated = Handler("plain"), Handler("decorated")
    router.add_route("/plain", plain.app)
    router.route("/decorated")(decorated.app)
    with client(router) as c:
        got = [(r.status_code, r.text) for r in (c.get("/plain"), c.get("/decorated"))]
        posts = [c.post("/plain").status_code, c.post("/decorated").status_code]
    assert got == [(200, "plain"), (200, "decorated")] and posts == [405, 405], (
        f"expected add_route(pattern, handler) and @route(pattern) without methods to serve GET only, got "
        f"GET {got!r} and POST {posts!r} (methods=('GET',) is the default)"
    )


@pytest.mark.spec("RFC 9110 §9.3.4 (PUT), §9.3.5 (DELETE); RFC 5789 (PATCH)")
def test_put_patch_and_delete_decorators() -> None:
    router = Router()
    handlers = {method: Handler(method.lower()) for method in ("PUT", "PATCH", "DELETE")}
    returned = [
        router.put("/items/{id:int}")(handlers["PUT"].app),
        router.patch("/items/{id:int}")(handlers["PATCH"].app),
        router.delete("/items/{id:int}")(handlers["DELETE"].app),
    ]
    with client(router) as c:
        got = {method: c.request(method, "/items/3").text for method in handlers}
        get = c.get("/items/3")
    assert got == {"PUT": "put", "PATCH": "patch", "DELETE": "delete"}, (
        f"expected @router.put, @router.patch and @router.delete to route PUT, PATCH and DELETE, got {got!r}"
    )
    assert returned == [h.app for h in handlers.values()], "expected each decorator to give back the function itself"
    allow = {m.strip() for m in get.headers.get("Allow", "").split(",") if m.strip()}
    assert get.status_code == 405 and allow == {"PUT", "PATCH", "DELETE"}, (
        f"expected GET on a PUT/PATCH/DELETE path to be 405 with Allow listing those three, got {get.status_code} "
        f"Allow {get.headers.get('Allow')!r}"
    )


@pytest.mark.spec("PEP 318 (a decorator returns the function)")
def test_decorator_returns_the_handler() -> None:
    router = Router()

    def handler(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    returned = router.get("/x")(handler)
    assert returned is handler, f"expected @router.get(...) to give back the function itself, got {returned!r}"


@pytest.mark.spec("wsgiorg routing_args")
def test_a_string_parameter() -> None:
    user = Handler("user")
    response = request(router_with(("/users/{name}", user, ["GET"])), "GET", "/users/ada")
    assert response.status_code == 200, f"expected /users/ada to match /users/{{name}}, got {response.status_code}"
    assert user.params == {"name": "ada"}, f"expected environ['router.params'] == {{'name': 'ada'}}, got {user.params!r}"
    args, kwargs = user.environs[-1].get("wsgiorg.routing_args", (None, None))
    assert list(args or []) == [] and kwargs == {"name": "ada"}, (
        f"expected environ['wsgiorg.routing_args'] == ((), {{'name': 'ada'}}), got {user.environs[-1].get('wsgiorg.routing_args')!r}"
    )


@pytest.mark.spec("RFC 3986 §3.3 (path segments)")
def test_a_string_parameter_is_one_segment() -> None:
    user = Handler("user")
    router = router_with(("/users/{name}", user, ["GET"]))
    with client(router) as c:
        statuses = [c.get("/users/a/b").status_code, c.get("/users/").status_code]
    assert statuses == [404, 404], (
        f"expected /users/a/b and /users/ not to match /users/{{name}} (404), got {statuses}: "
        "{name} is one non-empty segment, [^/]+, and the whole path must match"
    )


@pytest.mark.spec("wsgiorg routing_args")
def test_an_int_parameter() -> None:
    user = Handler("user")
    router = router_with(("/users/{id:int}", user, ["GET"]))
    with client(router) as c:
        found = c.get("/users/42")
        not_a_number = c.get("/users/abc")
    assert found.status_code == 200 and user.params == {"id": 42}, (
        f"expected /users/42 to reach the handler with {{'id': 42}} (an int), got {found.status_code} and {user.params!r}"
    )
    assert not_a_number.status_code == 404, f"expected 404 for /users/abc (not digits), got {not_a_number.status_code}"


@pytest.mark.spec("wsgiorg routing_args")
def test_a_path_parameter() -> None:
    files = Handler("files")
    response = request(router_with(("/files/{rest:path}", files, ["GET"])), "GET", "/files/docs/2024/report.txt")
    assert response.status_code == 200, f"expected /files/docs/2024/report.txt to match /files/{{rest:path}}, got {response.status_code}"
    assert files.params == {"rest": "docs/2024/report.txt"}, f"expected {{'rest': 'docs/2024/report.txt'}}, got {files.params!r}"


@pytest.mark.spec("wsgiorg routing_args")
def test_several_parameters() -> None:
    post = Handler("post")
    response = request(router_with(("/users/{uid:int}/posts/{slug:str}", post, ["GET"])), "GET", "/users/7/posts/hello-world")
    assert response.status_code == 200 and post.params == {"uid": 7, "slug": "hello-world"}, (
        f"expected {{'uid': 7, 'slug': 'hello-world'}}, got {response.status_code} and {post.params!r}"
    )


@pytest.mark.spec("(the router's contract)")
def test_an_unknown_converter_is_refused() -> None:
    router = Router()
    with pytest.raises(ValueError):
        router.add_route("/users/{id:uuid4}", Handler("x").app, ["GET"])


@pytest.mark.spec("(the router's contract: first match wins)")
def test_the_first_matching_route_wins() -> None:
    me, anyone = Handler("me"), Handler("anyone")
    router = router_with(("/users/me", me, ["GET"]), ("/users/{name}", anyone, ["GET"]))
    with client(router) as c:
        got = [c.get("/users/me").text, c.get("/users/ada").text]
    assert got == ["me", "anyone"], f"expected routes tried in the order added (me, then anyone), got {got!r}"


@pytest.mark.spec("PEP 3333 §Unicode Issues (native strings), RFC 3986 §2.5")
def test_non_ascii_paths_are_decoded() -> None:
    cafe, user = Handler("cafe"), Handler("user")
    router = router_with(("/café", cafe, ["GET"]), ("/users/{name}", user, ["GET"]))
    # What a server puts in PATH_INFO for /caf%C3%A9: the UTF-8 bytes, one latin-1 character each.
    status, _, body = call(router, make_environ("/caf\xc3\xa9"))
    assert (status[:3], body) == ("200", b"cafe"), (
        f"expected PATH_INFO '/caf\\xc3\\xa9' to match the route '/café', got {status!r} {body!r}: "
        "PATH_INFO holds bytes as latin-1 characters, decode it with .encode('latin-1').decode('utf-8')"
    )
    call(router, make_environ("/users/zo\xc3\xab"))
    assert user.params == {"name": "zoë"}, f"expected the parameter as real text {{'name': 'zoë'}}, got {user.params!r}"


@pytest.mark.spec("PEP 3333 §Unicode Issues; RFC 9110 §15.5 (a client error is a 4xx)")
def test_a_path_that_is_not_utf8_is_still_answered() -> None:
    router = router_with(("/café", Handler("cafe"), ["GET"]))
    # /caf%E9: é as one latin-1 byte, which is not UTF-8. The client's mistake, not a server error.
    try:
        status, _, _ = call(router, make_environ("/caf\xe9"))
    except Exception as exc:
        pytest.fail(f"the router raised {exc!r} for PATH_INFO '/caf\\xe9' (not UTF-8): decode with errors='replace'")
    assert not status.startswith("5"), (
        f"expected an answer (404, 400, or whatever your router makes of the bytes) for a path that is not UTF-8, "
        f"got {status!r}: the client sent the odd bytes, the server did nothing wrong"
    )


# --------------------------------------------------------------------------------------------
# Router: 404, 405, HEAD
# --------------------------------------------------------------------------------------------


@pytest.mark.spec("RFC 9110 §15.5.5 (404 Not Found)")
def test_no_route_is_404() -> None:
    hello = Handler("hello")
    response = request(router_with(("/hello", hello, ["GET"])), "GET", "/nowhere")
    assert response.status_code == 404, f"expected 404 for a path no route matches, got {response.status_code}"
    assert response.headers.get("Content-Type", "").startswith("text/plain"), "expected a text/plain 404 body"
    assert not hello.environs, "a handler was called for a path that it does not match"


@pytest.mark.spec("RFC 9110 §15.5.6 (405 Method Not Allowed), §10.2.1 (Allow)")
def test_wrong_method_is_405_with_allow() -> None:
    listing, creating = Handler("list"), Handler("create")
    router = router_with(("/items", listing, ["GET"]), ("/items", creating, ["POST"]))
    response = request(router, "DELETE", "/items")
    assert response.status_code == 405, f"expected 405 for DELETE on a path served only for GET and POST, got {response.status_code}"
    allow = {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()}
    assert allow == {"GET", "HEAD", "POST"}, (
        f"expected Allow to list GET, HEAD and POST (HEAD comes with GET), got {response.headers.get('Allow')!r}"
    )
    assert not listing.environs and not creating.environs, "a handler was called although the method did not match"


@pytest.mark.spec("RFC 9110 §9.3.2 (HEAD)")
def test_head_is_answered_by_the_get_route() -> None:
    hello = Handler("hello")
    response = request(router_with(("/hello", hello, ["GET"])), "HEAD", "/hello")
    assert response.status_code == 200, f"expected HEAD on a GET route to answer 200, got {response.status_code}"
    assert hello.environs, "expected the GET handler to run for HEAD"
    assert response.content == b"", f"expected no body in a HEAD response, got {response.content!r}"
    assert response.headers.get("Content-Length") == "5", "expected the GET's headers (Content-Length: 5) on the HEAD response"


class ClosingBody:
    """A response body with a close() that remembers it was called (PEP 3333 §Specification Details)."""

    def __init__(self) -> None:
        self.closed = False

    def __iter__(self):
        yield b"hello"

    def close(self) -> None:
        self.closed = True


@pytest.mark.spec("RFC 9110 §9.3.2 (HEAD); PEP 3333 §Specification Details (close())")
def test_head_closes_the_handlers_body() -> None:
    body = ClosingBody()

    def handler(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return body

    router = Router()
    router.add_route("/hello", handler, ["GET"])
    response = request(router, "HEAD", "/hello")
    assert (response.status_code, response.content) == (200, b""), (
        f"expected 200 and no body for HEAD, got {response.status_code} {response.content!r}"
    )
    assert body.closed, (
        "expected the router to call close() on the GET handler's body after dropping it for HEAD: whoever "
        "iterates a WSGI body must close it (it may hold a file or a database cursor)"
    )


def head_everywhere() -> Callable:
    """A site whose every kind of answer a HEAD can meet: a handler, a 404, a 405, a redirect, a Mount's 404."""
    router = router_with(("/hello", Handler("hello"), ["GET"]), ("/form", Handler("form"), ["POST"]))
    router.mount("/api", Mount("/v1", Handler("api").app))
    return TrailingSlashMiddleware(router)


HEAD_ANSWERS = [
    pytest.param("/nowhere", "404", id="router-404"),
    pytest.param("/form", "405", id="router-405"),
    pytest.param("/hello/", "301", id="redirect-301"),
    pytest.param("/api/v2", "404", id="mount-404"),
]


@pytest.mark.spec("RFC 9110 §9.3.2 (no content in any answer to HEAD), §15.5.5, §15.5.6, §15.4.2")
@pytest.mark.parametrize("path, status", HEAD_ANSWERS)
def test_head_gets_no_body_from_the_router_itself(path: str, status: str) -> None:
    got, headers, body = call(head_everywhere(), make_environ(path, method="HEAD"))
    assert got[:3] == status, f"expected HEAD {path} to answer {status}, like GET would, got {got!r}"
    assert body == b"", (
        f"expected no body in the {status} answer to HEAD {path}, got {body!r}: RFC 9110 §9.3.2 forbids content "
        "in any answer to HEAD, your own 404, 405 and redirects too (send the headers, drop the body)"
    )
    if status == "405":
        allow = dict((k.lower(), v) for k, v in headers).get("allow", "")
        assert "POST" in allow, f"expected the HEAD's 405 to keep its Allow header listing POST, got {allow!r}"


@pytest.mark.spec("RFC 9110 §9.3.2 (HEAD); PEP 3333 §The write() Callable")
def test_head_drops_what_the_handler_writes() -> None:
    def old_style(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "11")])
        write(b"hello ")
        return [b"world"]

    router = Router()
    router.add_route("/hello", validator(old_style), ["GET"])
    written: list[bytes] = []

    def start_response(status, headers, exc_info=None):
        return written.append

    iterable = validator(router)(make_environ("/hello", method="HEAD"), start_response)
    try:
        body = b"".join(iterable)
    finally:
        iterable.close()
    assert (written, body) == ([], b""), (
        f"expected nothing sent for HEAD on a GET handler that uses write(), got write() {written!r} and body {body!r}: "
        "what a handler writes is body too; give it a write() that drops the bytes for HEAD"
    )


@pytest.mark.spec("RFC 9110 §9.3.2 (HEAD), RFC 9112 §6.3 (message length); waitress keeps the connection alive")
def test_head_answers_keep_a_real_connection_in_step() -> None:
    # Bytes sent after a HEAD answer stay on the connection and become the start of the next answer.
    with waitress_serving(validator(head_everywhere())) as url, KeptAlive(url, name="waitress") as connection:
        statuses = [connection.request("HEAD", path).status for path in ("/hello", "/nowhere", "/form", "/hello/")]
        last = connection.request("GET", "/hello")
    assert statuses == [200, 404, 405, 301], f"expected HEAD answers 200, 404, 405 and 301, got {statuses}"
    assert (last.status, last.body) == (200, b"hello"), (
        f"expected GET /hello after four HEADs on one kept-alive connection to get 200 b'hello', got {last.status} {last.body!r}"
    )


# --------------------------------------------------------------------------------------------
# Mount
# --------------------------------------------------------------------------------------------


def shifted(prefix: str, environ: dict) -> tuple[str, str]:
    """What wsgiref.util.shift_path_info makes of the environ, one prefix segment at a time."""
    copy = dict(environ)
    for _ in prefix.strip("/").split("/"):
        shift_path_info(copy)
    return copy["SCRIPT_NAME"], copy["PATH_INFO"]


@pytest.mark.spec("PEP 3333 §URL Reconstruction; wsgiref.util.shift_path_info")
@pytest.mark.parametrize(
    "prefix, path",
    [("/api", "/api/users/7"), ("/api", "/api/"), ("/api", "/api"), ("/v1/api", "/v1/api/users"), ("/api/", "/api/x"),
     ("/XBOX/", "/XBOX/games")],
)
def test_mount_shifts_the_prefix(prefix: str, path: str) -> None:
    inner = Handler("inner")
    status, _, _ = call(Mount(prefix, inner.app), make_environ(path))
    assert status.startswith("200") and inner.environs, f"expected {path!r} to reach the app mounted at {prefix!r}, got {status!r}"
    got = (inner.environs[-1]["SCRIPT_NAME"], inner.environs[-1]["PATH_INFO"])
    expected = shifted(prefix, make_environ(path))
    assert got == expected, f"mounted at {prefix!r}, {path!r} should reach the app as (SCRIPT_NAME, PATH_INFO) {expected!r}, got {got!r}"


@pytest.mark.spec("PEP 3333 §URL Reconstruction")
def test_mount_keeps_the_outer_script_name() -> None:
    inner = Handler("inner")
    call(Mount("/api", inner.app), make_environ("/api/users", script_name="/outer"))
    got = (inner.environs[-1]["SCRIPT_NAME"], inner.environs[-1]["PATH_INFO"]) if inner.environs else None
    assert got == ("/outer/api", "/users"), f"expected ('/outer/api', '/users'), got {got!r}: add the prefix to SCRIPT_NAME"


@pytest.mark.spec("RFC 3986 §3.3 (path segments)")
def test_mount_matches_whole_segments() -> None:
    inner = Handler("inner")
    status, _, _ = call(Mount("/api", inner.app), make_environ("/apiary"))
    assert status.startswith("404") and not inner.environs, (
        f"expected /apiary not to reach the app mounted at /api (404), got {status!r}"
    )


@pytest.mark.spec("PEP 3333 §Middleware: Components That Play Both Sides")
def test_mount_leaves_the_callers_environ_alone() -> None:
    environ = make_environ("/api/users")
    call(Mount("/api", Handler("inner").app), environ)
    got = (environ["SCRIPT_NAME"], environ["PATH_INFO"])
    assert got == ("", "/api/users"), (
        f"after the call the caller's environ says {got!r}, expected ('', '/api/users'): give the app a copy"
    )


@pytest.mark.spec("PEP 3333 §URL Reconstruction")
def test_router_mounts_a_sub_router() -> None:
    users = Handler("users")
    home = Handler("home")
    api = router_with(("/users/{id:int}", users, ["GET"]))
    site = Router()
    site.mount("/api", api)
    site.add_route("/", home.app, ["GET"])
    with client(site) as c:
        responses = [c.get("/"), c.get("/api/users/3"), c.get("/api/nothing"), c.get("/nowhere")]
    got = [(r.status_code, r.text) for r in responses[:2]] + [r.status_code for r in responses[2:]]
    assert got == [(200, "home"), (200, "users"), 404, 404], (
        f"expected / -> home (a route after the mount), /api/users/3 -> users, /api/nothing -> 404 and "
        f"/nowhere -> 404, got {got!r}: a mount that does not match lets the router try the next entry"
    )
    assert users.params == {"id": 3}, f"expected the sub-router's parameters {{'id': 3}}, got {users.params!r}"


def make_flask_app() -> flask.Flask:
    app = flask.Flask("mounted_flask")

    @app.get("/hello/<name>")
    def hello(name: str):
        return {
            "name": name,
            "script_root": flask.request.script_root,
            "path": flask.request.path,
            "url_for": flask.url_for("hello", name="bob"),
        }

    @app.get("/dir/")
    def directory():
        return "a directory"

    return app


@pytest.mark.spec("PEP 3333 §URL Reconstruction (SCRIPT_NAME), with Flask")
def test_flask_mounted_under_a_prefix() -> None:
    app = Mount("/flask", validator(make_flask_app()))
    response = request(app, "GET", "/flask/hello/ada")
    assert response.status_code == 200, f"expected Flask to answer /flask/hello/ada, got {response.status_code}"
    got = response.json()
    expected = {"name": "ada", "script_root": "/flask", "path": "/hello/ada", "url_for": "/flask/hello/bob"}
    assert got == expected, (
        f"expected Flask to see {expected}, got {got}: Flask reads its mount point from SCRIPT_NAME "
        "(request.script_root, url_for) and its route from PATH_INFO"
    )


@pytest.mark.spec("PEP 3333 §URL Reconstruction, with Flask")
def test_flask_redirects_inside_its_mount() -> None:
    router = Router()
    router.mount("/flask", validator(make_flask_app()))
    response = request(router, "GET", "/flask/dir")
    location = response.headers.get("Location", "")
    assert response.status_code in (301, 308) and location.endswith("/flask/dir/"), (
        f"expected Flask's redirect of /flask/dir to /flask/dir/, got {response.status_code} Location {location!r}"
    )


# --------------------------------------------------------------------------------------------
# TrailingSlashMiddleware
# --------------------------------------------------------------------------------------------


@pytest.mark.spec("RFC 9110 §15.4.2 (301), §10.2.2 (Location)")
def test_trailing_slash_is_removed() -> None:
    items = Handler("items")
    app = TrailingSlashMiddleware(router_with(("/items", items, ["GET"])))
    response = request(app, "GET", "/items/?page=2&sort=name")
    assert response.status_code == 301, f"expected 301 for GET /items/, got {response.status_code}"
    location = response.headers.get("Location")
    assert location == "/items?page=2&sort=name", f"expected Location '/items?page=2&sort=name', got {location!r}"
    assert not items.environs, "the app was called although the request was redirected"
    length = response.headers.get("Content-Length")
    assert length == str(len(response.content)) and response.content, (
        f"expected a short body with its Content-Length, got Content-Length {length!r} for {response.content!r}"
    )
    with client(app) as c:
        head = c.head("/items/")
        index = c.get("/docs/INDEX/")
    assert (head.status_code, head.headers.get("Location")) == (301, "/items"), (
        f"expected 301 to /items for HEAD /items/ (HEAD is a GET without the body), got {head.status_code} "
        f"{head.headers.get('Location')!r}"
    )
    assert (index.status_code, index.headers.get("Location")) == (301, "/docs/INDEX"), (
        f"expected 301 to /docs/INDEX for /docs/INDEX/ (remove the trailing slash and nothing else), got "
        f"{index.status_code} {index.headers.get('Location')!r}"
    )


@pytest.mark.spec("RFC 9110 §15.4.2 (301)")
def test_trailing_slash_is_added() -> None:
    app = TrailingSlashMiddleware(router_with(("/items/", Handler("items"), ["GET"])), trailing_slash=True)
    with client(app) as c:
        response = c.get("/items")
        kept = c.get("/items/")
    assert (response.status_code, response.headers.get("Location")) == (301, "/items/"), (
        f"expected 301 to /items/ with trailing_slash=True, got {response.status_code} {response.headers.get('Location')!r}"
    )
    assert (kept.status_code, kept.text) == (200, "items"), (
        f"expected /items/ (already with its slash) to reach the app with trailing_slash=True, got {kept.status_code} "
        f"{kept.headers.get('Location')!r}"
    )


@pytest.mark.spec("RFC 9110 §15.4.9 (308 keeps the method and the body)")
def test_trailing_slash_post_is_308() -> None:
    app = TrailingSlashMiddleware(router_with(("/items", Handler("items"), ["POST"])))
    response = request(app, "POST", "/items/", content=b"name=ada")
    assert response.status_code == 308, (
        f"expected 308 for POST /items/, got {response.status_code}: after a 301 a client may retry a POST as a GET"
    )


@pytest.mark.spec("RFC 9110 §15.4.9")
def test_trailing_slash_leaves_good_paths_alone() -> None:
    home, items = Handler("home"), Handler("items")
    app = TrailingSlashMiddleware(router_with(("/", home, ["GET"]), ("/items", items, ["GET"])))
    with client(app) as c:
        got = [(r.status_code, r.text) for r in (c.get("/"), c.get("/items"))]
    assert got == [(200, "home"), (200, "items")], f"expected / and /items to reach their handlers, got {got!r}"


@pytest.mark.spec("PEP 3333 §URL Reconstruction (quote), RFC 3986 §2.1")
def test_trailing_slash_location_is_encoded_and_mounted() -> None:
    app = Mount("/api", TrailingSlashMiddleware(Handler("x").app))
    status, headers, _ = call(app, make_environ("/api/my files/"))
    location = dict((k.lower(), v) for k, v in headers).get("location")
    assert (status[:3], location) == ("301", "/api/my%20files"), (
        f"expected 301 to '/api/my%20files', got {status!r} {location!r}: start the Location with SCRIPT_NAME "
        "and percent-encode the path again (urllib.parse.quote)"
    )


@pytest.mark.spec("RFC 9110 §15.4 (redirection), end to end")
def test_trailing_slash_redirect_is_followed() -> None:
    items = Handler("items")
    app = TrailingSlashMiddleware(router_with(("/items/{id:int}", items, ["GET"])))
    with client(app) as c:
        response = c.get("/items/5/?full=1", follow_redirects=True)
    assert (response.status_code, response.text) == (200, "items"), (
        f"expected httpx to follow the redirect to /items/5?full=1 and get 200 'items', got {response.status_code} {response.text[:60]!r}"
    )
    assert str(response.url) == "http://testserver/items/5?full=1", f"expected to land on /items/5?full=1, got {response.url}"
    assert items.params == {"id": 5}, f"expected {{'id': 5}}, got {items.params!r}"
