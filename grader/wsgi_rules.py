"""``wsgiref.validate``'s checks, as sentences that say which PEP 3333 rule was broken.

The validator (the stdlib's ``wsgiref/validate.py``) stops a WSGI exchange with an ``AssertionError``
wherever PEP 3333 is broken, and with a ``WSGIWarning`` where it only warns (the course's tests turn
those into errors). Its messages are terse ("Status codes must be three characters: '20'") and many
checks have none at all (``assert_(type(v) is bytes)``). :func:`explain` finds the check that failed —
the function in ``validate.py`` and the text of its line — and gives the rule in a sentence, with the
PEP 3333 section that states it, and the validator's own words after it.

The table follows ``validate.py`` from top to bottom: a check is named by its function and a piece of
its message or of its source line, so the table does not depend on line numbers.
"""

from __future__ import annotations

import linecache
import traceback
from pathlib import Path
from types import TracebackType

START_RESPONSE = "The start_response() Callable"
ENVIRON = "environ Variables"
STREAMS = "Input and Error Streams"
DETAILS = "Specification Details"

# For each function of validate.py that checks, its checks in its own order: (a piece of the check's
# message or source line, the rule, the PEP 3333 section). The first piece found in what failed names the
# rule ("" is found in anything: it comes last).
RULES: dict[str, list[tuple[str, str, str]]] = {
    "lint_app": [
        ("Two arguments required",
         "a WSGI application is called with exactly two positional arguments, environ and start_response", DETAILS),
        ("No keyword arguments",
         "a WSGI application is called with positional arguments only, never with keywords", DETAILS),
        ("must return an iterator",
         "the application must return an iterable of bytestrings (an empty list at least), never None", DETAILS),
    ],
    "start_response_wrapper": [
        ("Invalid number of arguments",
         "start_response() takes two or three positional arguments: status, response_headers, and exc_info only when reporting an error",
         START_RESPONSE),
        ("No keyword arguments",
         "start_response() takes its arguments by position, never by keyword", START_RESPONSE),
    ],
    "read": [
        ("len(args) == 1",
         "wsgi.input.read() needs a size: PEP 3333 gives read(size) only, so read CONTENT_LENGTH bytes", STREAMS),
        ("is bytes", "wsgi.input.read() must return bytes", STREAMS),
    ],
    "readlines": [
        ("len(args) <= 1", "wsgi.input.readlines() takes at most one argument, a size hint", STREAMS),
        ("type(", "wsgi.input.readlines() must return a list of bytes", STREAMS),
    ],
    "readline": [
        ("len(args) <= 1", "wsgi.input.readline() takes at most one argument, a size hint", STREAMS),
        ("is bytes", "wsgi.input.readline() must return bytes", STREAMS),
    ],
    "close": [
        ("input.close()", "the application must not close wsgi.input: the server owns it", STREAMS),
        ("errors.close()", "the application must not close wsgi.errors: the server owns it", STREAMS),
    ],
    "write": [("is str", "wsgi.errors is a text stream: its write() takes a str, not bytes", STREAMS)],
    "__call__": [("is bytes", "the write() callable that start_response() returns takes bytes only", "The write() Callable")],
    "__next__": [
        ("read after closed",
         "the response iterable was read after its close() was called: once closed, it is read no more", DETAILS),
        ("non-bytestring",
         "the response iterable yielded something that is not bytes: every piece of the body is a bytestring (encode text first)",
         "Unicode Issues"),
        ("start_response has not yet been called",
         "the body's first piece came before start_response() was called: call it before the body is read", START_RESPONSE),
    ],
    "__del__": [
        ("without being closed",
         "the response iterable was never closed: the server must call its close() (when it has one), even when the response fails",
         DETAILS),
    ],
    "check_environ": [
        ("not of the right type", "environ must be a built-in dict, not a subclass or another mapping", DETAILS),
        ("missing required key",
         "environ lacks a key every request has: REQUEST_METHOD, SERVER_NAME, SERVER_PORT and the wsgi.* keys are required", ENVIRON),
        ("should not have the key",
         "CONTENT_TYPE and CONTENT_LENGTH go in environ without the HTTP_ prefix", ENVIRON),
        ("is not a string", "every CGI key of environ (a key without a dot) holds a str", ENVIRON),
        ("wsgi.version", "environ['wsgi.version'] is the tuple (1, 0)", ENVIRON),
        ("wsgi.url_scheme", "environ['wsgi.url_scheme'] is 'http' or 'https'", ENVIRON),
        ("SCRIPT_NAME doesn't start", "SCRIPT_NAME, when not empty, starts with '/'", ENVIRON),
        ("PATH_INFO doesn't start", "PATH_INFO, when not empty, starts with '/'", ENVIRON),
        ("CONTENT_LENGTH", "CONTENT_LENGTH, when present, is a whole number of bytes, 0 or more", ENVIRON),
        ("One of SCRIPT_NAME or PATH_INFO",
         "with an empty SCRIPT_NAME, environ needs a PATH_INFO ('/' at least)", ENVIRON),
        ("SCRIPT_NAME cannot be '/'", "SCRIPT_NAME is never '/': it is '' and PATH_INFO is '/'", ENVIRON),
        ("QUERY_STRING", "environ always has QUERY_STRING ('' when the URL has no query)", ENVIRON),
        ("REQUEST_METHOD", "REQUEST_METHOD is not a method the validator knows", ENVIRON),
    ],
    "check_input": [("attribute", "wsgi.input has read(), readline(), readlines() and __iter__()", STREAMS)],
    "check_errors": [("attribute", "wsgi.errors has write(), writelines() and flush()", STREAMS)],
    "check_status": [
        ("must be of type str", "the status is a str such as '200 OK'", START_RESPONSE),
        ("Status code is invalid", "the status code is 100 or more", START_RESPONSE),
        ("",
         "the status is a three-digit code, one space and a reason phrase: '200 OK', not '200' or '200OK'", START_RESPONSE),
    ],
    "check_headers": [
        ("must be of type list", "response_headers is a list of (name, value) tuples", START_RESPONSE),
        ("must be of type tuple", "each response header is a tuple (name, value)", START_RESPONSE),
        ("len(item) == 2", "each response header is a pair: (name, value)", START_RESPONSE),
        ("Header name", "header names are str", START_RESPONSE),
        ("Header value", "header values are str (str(len(body)) for a Content-Length)", START_RESPONSE),
        ("Status header",
         "there is no 'Status' header: the status is start_response()'s first argument", START_RESPONSE),
        ("may not contain", "a header name has no ':' and no line break", START_RESPONSE),
        ("Bad header name",
         "a header name starts with a letter and holds only letters, digits, '-' and '_'", START_RESPONSE),
        ("may not end in", "a header name does not end in '-' or '_'", START_RESPONSE),
        ("Bad header value",
         "a header value holds no control characters (a line break in it would start a new header)", START_RESPONSE),
    ],
    "check_content_type": [
        ("found in a",
         "a 204 or 304 response has no content, so it carries no Content-Type", "RFC 9110 §8.3, as wsgiref.validate checks it"),
        ("No Content-Type",
         "every response but a 204 or 304 carries a Content-Type header", "RFC 9110 §8.3, as wsgiref.validate checks it"),
        ("", "the status is a three-digit code, one space and a reason phrase: '200 OK'", START_RESPONSE),
    ],
    "check_exc_info": [("", "exc_info is None, or the tuple that sys.exc_info() returns", "Error Handling")],
    "check_iterator": [
        ("",
         "return a list holding one bytestring, not a bare bytes or str: that would be sent one byte at a time",
         "Buffering and Streaming"),
    ],
}

_HELPERS = ("assert_", "check_string_type")  # validate.py's own helpers: the check is their caller


def explain(exc: BaseException) -> str | None:
    """The rule ``exc`` says was broken, when ``wsgiref.validate`` raised it; else ``None``."""
    check = _failed_check(exc.__traceback__)
    if check is None:
        return None
    function, source = check
    said = " ".join(str(a) for a in exc.args).strip()[:300]
    text = said or source  # a bare assert_() is known by its condition
    for needle, rule, section in RULES.get(function, []):
        if needle in text:
            where = section if section.startswith("RFC") else f"PEP 3333 §{section}"
            detail = f"\n(wsgiref.validate: {said})" if said else ""
            return f"the WSGI validator stopped the exchange: {rule} ({where}){detail}"
    return None


def _failed_check(tb: TracebackType | None) -> tuple[str, str] | None:
    """The function of ``validate.py`` whose check failed, and the text of the line, if it raised."""
    frames = list(traceback.walk_tb(tb))
    if not frames:
        return None
    last = Path(frames[-1][0].f_code.co_filename)
    if not (_is_validate(last) or last.name == "warnings.py"):
        return None  # raised further in (the app's own code, called by the validator): not a check
    for frame, line in reversed(frames):
        path = frame.f_code.co_filename
        if _is_validate(Path(path)) and frame.f_code.co_name not in _HELPERS:
            return frame.f_code.co_name, _statement(path, line)
    return None


def _statement(path: str, line: int) -> str:
    """The source of a check's call: its line and the next two (a call may span lines)."""
    return "".join(linecache.getline(path, n) for n in range(line, line + 3))


def _is_validate(path: Path) -> bool:
    return path.name == "validate.py" and path.parent.name == "wsgiref"
