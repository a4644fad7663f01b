"""The pytest plugin the grader loads into each exercise's child process (``-p grader.plugin``).

It writes one line per event to the results channel the runner hands it on the command line
(``--kata-channel``): a pipe inherited as a file descriptor, or a FIFO it opens and unlinks at once
(watch mode's warm process cannot inherit a new descriptor). Lines are written and flushed as the run
goes: when the student's code kills the process (``os._exit``, a segfault) or the grader kills it for
taking too long, the lines already written still say which tests ran and which one was running.

Tamper evidence (see the README's "What the grader can and cannot prove"). Before any of the student's
code is imported, the plugin reads a secret from the runner (a second pipe, or a file it deletes at
once), and from then on:

- every line it writes carries a sequence number and an HMAC keyed with the secret, so a line the
  student's code writes to the channel (or a line replayed, or dropped) is evidence, not a result;
- it adds the runner's canary tests (random names and bodies, one that must pass and one that must
  fail) among the course's tests, as ordinary ``pytest.Function`` items of a course test module;
- it checks, after every test and at the end, that pytest's reporting functions
  (``runtestprotocol``, ``TestReport.from_item_and_call``, ``Function.runtest``, …), its own hooks and
  recorder are still the ones it started with, and that no plugin was registered after collection
  began other than the course's own ``conftest.py`` files; what it finds goes out as a ``tampered``
  event.

For each test it records the outcome and a message in plain words: the assertion's own message
("expected …, got …"), or what the student's code raised, with the file and line in the student's code
where it happened (not deep inside pytest or httpx), and the test's own line (not a helper's). A
``wsgiref.validate`` assertion becomes the PEP 3333 rule it guards (grader.wsgi_rules); a response the
client could not parse becomes "your server sent …", with the bytes. When the test drove a server
(``testkit.wire`` watched one), a failure also carries the server's side (grader.server_side): what
the server printed, the bytes each way on the last connection, and a command to replay the request.
For a skip it records where the skip was raised: only a skip raised by the course (a skip mark, a
course test file or conftest) leaves the denominator.

With a secret whose ``mode`` is ``collect`` (the runner's collection pass, see grader.runner) it
replaces every student module of the course by a stand-in before anything is collected, so that the
list of tests comes from the course's files alone, and reports each collected item.

Under the grader (``$KATA_MEMORY_LIMIT`` set) it also caps the process's data size before any of the
student's code is imported, so that an allocation without end fails the test with a ``MemoryError``
instead of eating the machine, and turns core dumps off, so that a segfault leaves no core file behind.
Its last event names the non-daemon threads still running when the tests finished: those keep the
process from exiting, and the grader stops it and says why.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import importlib
import importlib.abc
import importlib.machinery
import inspect
import json
import os
import random
import re
import sys
import threading
import traceback
import types
from pathlib import Path
from typing import Any

import pytest

from grader import server_side, wsgi_rules

OUTPUT_LIMIT = 500


def mac(key: bytes, payload: bytes) -> str:
    """The tag of one line on the results channel (the runner checks it with the same function)."""
    return hmac.new(key, payload, hashlib.sha256).hexdigest()[:32]


_write = os.write  # bound now: the student's code may replace os.write later


class _Recorder:
    def __init__(self, fd: int, key: bytes, root: Path) -> None:
        self.fd = fd
        self.key = key
        self.pid = os.getpid()
        self.seq = 0
        self.root = root
        self.items: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, dict[str, Any]] = {}
        self.collect_errors: set[str] = set()
        self.tampered: set[str] = set()

    def write(self, event: dict[str, Any]) -> None:
        if os.getpid() != self.pid or self.fd < 0:
            return  # a fork of the test process (the student's server) must not speak for it
        self.seq += 1
        payload = json.dumps({**event, "seq": self.seq}).encode()
        data = mac(self.key, payload).encode() + b" " + payload + b"\n"
        while data:
            try:
                data = data[_write(self.fd, data) :]
            except InterruptedError:
                continue
            except OSError:  # the runner is gone: nothing to report to
                self.fd = -1
                return

    def close(self) -> None:
        if self.fd >= 0 and os.getpid() == self.pid:
            with contextlib.suppress(OSError):
                os.close(self.fd)
        self.fd = -1

    def relative(self, path: str | os.PathLike[str]) -> str:
        try:
            return str(Path(path).resolve().relative_to(self.root))
        except ValueError:
            return str(path)


_recorder: _Recorder | None = None
_secret: dict[str, Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kata-channel", default="", help="(the grader's) where results go: fd:EVENTS,SECRET or fifo:DIR")


def _open_channel(spec: str) -> tuple[int, dict[str, Any]]:
    """The events descriptor and the secret, from ``fd:EVENTS,SECRET`` or ``fifo:DIR`` (both names unlinked)."""
    kind, _, where = spec.partition(":")
    if kind == "fd":
        events, secret_fd = (int(n) for n in where.split(","))
        chunks = []
        while chunk := os.read(secret_fd, 65536):
            chunks.append(chunk)
        os.close(secret_fd)
        text = b"".join(chunks)
    else:
        folder = Path(where)
        text = (folder / "secret").read_bytes()
        (folder / "secret").unlink()
        events = os.open(folder / "events", os.O_WRONLY)
        (folder / "events").unlink()
    return events, json.loads(text)


def pytest_configure(config: pytest.Config) -> None:
    global _recorder
    spec = config.getoption("kata_channel", "")
    if spec and _recorder is None:
        fd, secret = _open_channel(spec)
        key = bytes.fromhex(secret.pop("key"))  # kept by the recorder only
        _secret.update(secret)
        _recorder = _Recorder(fd, key, Path(str(config.rootpath)).resolve())
        _recorder.write({"event": "begin", "pid": os.getpid()})
        if secret.get("mode") == "collect":
            sys.meta_path.insert(0, _StandIns(set(secret.get("block", ()))))
        else:
            _checks.arm(config, _recorder)
    _limit_resources(os.environ.get("KATA_MEMORY_LIMIT"), os.environ.get("KATA_FILE_LIMIT"))


# --- the collection pass: every student module replaced by a stand-in ------------------------------


class _StandInMeta(type):
    """A class that answers anything: attributes, calls, iteration, subclassing, as a stub's names would."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _stand_in(name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls

    def __iter__(cls) -> Any:
        return iter(())

    def __bool__(cls) -> bool:
        return True


def _stand_in(name: str) -> type:
    return _StandInMeta(str(name), (), {})


class _StandInModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _stand_in(name)


class _StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of the student's modules get a stand-in: the collection pass runs none of the student's code."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname.split(".")[0] not in self.names:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: Any) -> types.ModuleType:
        module = _StandInModule(spec.name)
        module.__path__ = []  # a package, so that `import name.sub` works too
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


# --- the checks: pytest's reporting and the plugin itself, as they were before the student's code ---


def _reporting_functions() -> dict[str, Any]:
    """What a test's outcome passes through on its way to this plugin, by name."""
    import _pytest.main
    import _pytest.python
    import _pytest.reports
    import _pytest.runner

    plugin = sys.modules[__name__]
    return {
        "_pytest.runner.runtestprotocol": _pytest.runner.runtestprotocol,
        "_pytest.runner.call_and_report": _pytest.runner.call_and_report,
        "_pytest.runner.call_runtest_hook": getattr(_pytest.runner, "call_runtest_hook", None),
        "_pytest.runner.pytest_runtest_protocol": _pytest.runner.pytest_runtest_protocol,
        "_pytest.runner.TestReport": _pytest.runner.TestReport,
        "_pytest.reports.TestReport": _pytest.reports.TestReport,
        "pytest.TestReport": pytest.TestReport,
        "TestReport.from_item_and_call": _pytest.reports.TestReport.__dict__.get("from_item_and_call"),
        "TestReport.__init__": _pytest.reports.TestReport.__dict__.get("__init__"),
        "TestReport.outcome": _pytest.reports.TestReport.__dict__.get("outcome"),
        "BaseReport.passed": _pytest.reports.BaseReport.__dict__.get("passed"),
        "BaseReport.failed": _pytest.reports.BaseReport.__dict__.get("failed"),
        "BaseReport.skipped": _pytest.reports.BaseReport.__dict__.get("skipped"),
        "_pytest.python.Function.runtest": _pytest.python.Function.__dict__.get("runtest"),
        "_pytest.python.pytest_pyfunc_call": _pytest.python.pytest_pyfunc_call,
        "_pytest.main.pytest_runtestloop": _pytest.main.pytest_runtestloop,
        "grader.plugin._recorder": plugin.__dict__.get("_recorder"),
        "grader.plugin._Recorder.write": _Recorder.__dict__.get("write"),
        "grader.plugin._write": plugin.__dict__.get("_write"),
        "grader.plugin.mac": plugin.__dict__.get("mac"),
        **{f"grader.plugin.{name}": plugin.__dict__.get(name) for name in _HOOKS},
    }


_HOOKS = (
    "pytest_runtest_logreport",
    "pytest_runtest_makereport",
    "pytest_runtest_logstart",
    "pytest_collection_modifyitems",
    "pytest_collection_finish",
    "pytest_sessionfinish",
)


class _Checks:
    """Snapshots taken before the student's code runs, and the comparisons made after it ran."""

    def __init__(self) -> None:
        self.armed = False

    def arm(self, config: pytest.Config, recorder: _Recorder) -> None:
        self.config = config
        self.recorder = recorder
        self.functions = _reporting_functions()
        self.plugin = sys.modules[__name__]
        self.instance_write = recorder.write  # a bound method: replaced on the instance, it differs
        self.plugins_before: set[int] | None = None
        self.armed = True

    def collection_starts(self) -> None:
        """The course's conftests may register as plugins from now on; nothing else may."""
        if self.armed:
            self.plugins_before = {id(p) for p in self.config.pluginmanager.get_plugins()}

    def run(self) -> None:
        if not self.armed:
            return
        found = []
        now = _reporting_functions()
        for name, original in self.functions.items():
            if now.get(name) is not original:
                found.append(f"{name} was replaced")
        if self.recorder.__dict__.get("write", self.instance_write) is not self.instance_write:
            found.append("the plugin's recorder was wrapped")
        manager = self.config.pluginmanager
        if not manager.is_registered(self.plugin):
            found.append("the grader's plugin was unregistered")
        for name in _HOOKS:
            caller = getattr(self.config.hook, name, None)
            ours = [i for i in (caller.get_hookimpls() if caller else []) if i.plugin is self.plugin]
            if not ours or any(i.function is not self.functions[f"grader.plugin.{name}"] for i in ours):
                found.append(f"the plugin's hook {name} was replaced")
        if self.plugins_before is not None:
            for plugin in manager.get_plugins():
                if id(plugin) in self.plugins_before or _is_course_conftest(plugin, self.recorder.root):
                    continue
                found.append(f"a plugin was registered while the tests ran ({manager.get_name(plugin)})")
        for what in found:
            if what not in self.recorder.tampered:
                self.recorder.tampered.add(what)
                self.recorder.write({"event": "tampered", "what": what})


def _is_course_conftest(plugin: object, root: Path) -> bool:
    """A ``conftest.py`` module of the course (pytest registers them as plugins while it collects)."""
    path = getattr(plugin, "__file__", None)
    if not isinstance(plugin, types.ModuleType) or not path or Path(path).name != "conftest.py":
        return False
    try:
        Path(path).resolve().relative_to(root)
    except ValueError:
        return False
    return not _is_student_file(Path(path))


_checks = _Checks()


def _limit_resources(memory_limit: str | None, file_limit: str | None = None) -> None:
    """Cap the data size (heap and private mappings, thread stacks included) and the size of any file
    written, and turn core dumps off.

    RLIMIT_DATA rather than RLIMIT_AS: the address space counts what malloc merely reserves (an arena
    per thread, 64 MiB each), which would fail threaded servers long before they use real memory.
    A write past the file size limit would kill the process with SIGXFSZ; ignored, it fails with EFBIG
    (``OSError: File too large``) in the code that wrote, which then fails its test in plain words.
    Soft and hard limits both, so the student's code cannot lift them. Best effort: not on Windows.
    """
    if not memory_limit:
        return
    try:
        import resource
    except ImportError:
        return
    limits = [("RLIMIT_DATA", int(memory_limit)), ("RLIMIT_CORE", 0)]
    if file_limit:
        import signal

        if hasattr(signal, "SIGXFSZ"):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limits.append(("RLIMIT_FSIZE", int(file_limit)))
    for name, wanted in limits:
        limit = getattr(resource, name, None)
        if limit is None:
            continue
        try:
            _, hard = resource.getrlimit(limit)
            if hard != resource.RLIM_INFINITY:
                wanted = min(wanted, hard)
            resource.setrlimit(limit, (wanted, wanted))
        except (OSError, ValueError):
            continue


def pytest_collection(session: pytest.Session) -> None:
    _checks.collection_starts()


def _item_info(items: list[pytest.Item]) -> dict[str, dict[str, Any]]:
    sources: dict[object, str] = {}  # parametrized tests share one function: read its source once
    found = {}
    for order, item in enumerate(items):
        spec = item.get_closest_marker("spec")
        function = getattr(item, "function", None)
        if function not in sources:
            try:
                sources[function] = inspect.getsource(function) if function is not None else ""
            except (OSError, TypeError):
                sources[function] = ""
        found[item.nodeid] = {
            "order": order,
            "spec": str(spec.args[0]) if spec and spec.args else "",
            "reference": item.get_closest_marker("reference") is not None,
            "test_code": sources[function],
            # A skip mark the course put on the test: the only kind of skip pytest's skipping plugin may raise.
            "skip_mark": any(True for _ in item.iter_markers("skip")) or any(True for _ in item.iter_markers("skipif")),
            "xfail_mark": any(True for _ in item.iter_markers("xfail")),
        }
    return found


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected: canaries are added to what will run
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if _recorder is None:
        return
    _recorder.items = _item_info(items)
    if _secret.get("mode") != "collect":
        injected = _add_canaries(items, _secret.pop("canaries", []), stop_early=bool(config.getoption("maxfail", 0)))
        _recorder.write({"event": "canaries", "injected": injected})
    _recorder.write({"event": "collected", "count": len(items)})


def pytest_collection_finish(session: pytest.Session) -> None:
    """The collection pass reports what it found, and runs nothing (``--collect-only``)."""
    if _recorder is None or _secret.get("mode") != "collect":
        return
    for item in session.items:
        info = _recorder.items.get(item.nodeid, {})
        in_module = isinstance(item, pytest.Function) and isinstance(item.parent, pytest.Module)
        _recorder.write({"event": "item", "nodeid": item.nodeid, "in_module": in_module, **info})


def _add_canaries(items: list[pytest.Item], canaries: list[dict[str, str]], *, stop_early: bool) -> int:
    """Put the runner's canary tests among ``items``, each a function of one of the course's test modules.

    They are ordinary ``pytest.Function`` items, run and reported through the same machinery as the
    course's tests: replace that machinery and a canary reports the wrong outcome. With ``-x`` the one
    that must fail goes last, so that stopping at it stops nothing.
    """
    parents = [item.parent for item in items if isinstance(item, pytest.Function) and isinstance(item.parent, pytest.Module)]
    if not parents or not canaries:
        return 0
    chance = random.SystemRandom()
    for canary in canaries:
        parent = chance.choice(parents)
        module = parent.obj
        namespace = module.__dict__
        exec(compile(canary["source"], str(parent.path), "exec"), namespace)  # noqa: S102 (the runner's own code)
        item = pytest.Function.from_parent(parent, name=canary["name"], callobj=namespace[canary["name"]])
        if stop_early and canary["expect"] == "failed":
            items.append(item)
        else:
            items.insert(chance.randint(0, len(items)), item)
    return len(canaries)


def pytest_exception_interact(node: pytest.Item | pytest.Collector, call: pytest.CallInfo[Any], report: Any) -> None:
    """A test file that cannot be imported: pytest keeps the real error as the cause of its own."""
    if _recorder is None or not isinstance(node, pytest.Collector) or call.excinfo is None:
        return
    error = call.excinfo.value.__cause__ or call.excinfo.value
    _recorder.collect_errors.add(report.nodeid)
    message, location = _explain_import_error(error)
    _recorder.write({"event": "collect_error", "nodeid": report.nodeid, "message": message, "location": location})


def pytest_internalerror(excrepr: Any, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """pytest does not catch a SystemExit while it imports a test file: it gives up on the whole run."""
    if _recorder is None or not isinstance(excinfo.value, SystemExit):
        return
    message, location = _explain_import_error(excinfo.value)
    _recorder.write({"event": "collect_error", "nodeid": "", "message": message, "location": location})


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if _recorder is None or not report.failed or report.nodeid in _recorder.collect_errors:
        return
    text = str(report.longrepr).strip()
    message = text.splitlines()[-1] if text else "could not be collected"
    _recorder.write({"event": "collect_error", "nodeid": report.nodeid, "message": message, "location": ""})


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    if _recorder is not None:
        _recorder.write({"event": "start", "nodeid": nodeid})
        wire = _wire()
        if wire is not None:
            with contextlib.suppress(Exception):
                wire.rewind()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report = yield
    if _recorder is None or call.excinfo is None:
        return report
    entry = _recorder.pending.setdefault(item.nodeid, {})
    if report.skipped and "skip_origin" not in entry:
        if hasattr(report, "wasxfail"):  # an expected failure: the course's xfail mark, or nobody's
            entry["skip_origin"], entry["skip_location"] = "xfail", ""
        elif call.excinfo.errisinstance(pytest.skip.Exception):
            entry["skip_origin"], entry["skip_location"] = _skip_origin(call.excinfo.tb)
    if not report.failed:
        return report
    if "message" not in entry:  # the first failure (setup or call) is the one to explain
        message, location, test_location = _explain(call.excinfo, item)
        entry.update(message=message, location=location, test_location=test_location, when=report.when)
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _recorder is None:
        return
    entry = _recorder.pending.setdefault(report.nodeid, {"outcome": "passed", "duration": 0.0})
    entry.setdefault("outcome", "passed")
    entry["duration"] = entry.get("duration", 0.0) + report.duration
    if report.failed and entry["outcome"] in ("passed", "skipped"):
        # The first failure decides. One in setup or teardown is the test's machinery, not its assertion.
        entry["outcome"] = "failed" if report.when == "call" else "error"
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"
        entry.setdefault("message", _skip_reason(report))
    output = "".join(text for _, text in report.sections if text)
    if output:
        entry["output"] = (entry.get("output", "") + output)[-OUTPUT_LIMIT:]
    if report.when == "teardown":
        info = _recorder.items.get(report.nodeid, {})
        if entry["outcome"] in ("failed", "error"):
            entry["server"] = _server_report(report)
        _checks.run()
        _recorder.write(
            {
                "event": "test",
                "nodeid": report.nodeid,
                "outcome": entry["outcome"],
                "message": entry.get("message", ""),
                "location": entry.get("location") or entry.get("skip_location", ""),
                "test_location": entry.get("test_location", ""),
                "server": entry.get("server", {}),
                "duration": round(entry["duration"], 4),
                "output": entry.get("output", ""),
                "spec": info.get("spec", ""),
                "reference": info.get("reference", False),
                "test_code": info.get("test_code", ""),
                "skip_origin": entry.get("skip_origin", ""),
                "skip_location": entry.get("skip_location", ""),
            }
        )
        _recorder.pending.pop(report.nodeid, None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _recorder is not None:
        _checks.run()
        # Non-daemon threads still running now keep the interpreter from exiting: the grader waits a
        # little, then stops the process, and names them to the student.
        lingering = [
            t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()
        ]
        _recorder.write({"event": "finish", "exitstatus": int(exitstatus), "threads": lingering})
        _recorder.close()


def _skip_origin(tb: Any) -> tuple[str, str]:
    """Where a skip was raised: ``student`` (the student's code on the way), ``mark`` (pytest's skipping
    plugin, evaluating a skip mark), ``course`` (a course test file or conftest), or ``other``.

    ``pytest.skip()`` raises inside pytest's ``outcomes.py``: the frame that called it is the one that
    decides. Any frame of the student's files on the way makes it the student's skip.
    """
    frames = [(Path(frame.f_code.co_filename), line) for frame, line in traceback.walk_tb(tb)]
    for path, line in frames:
        if _is_student_file(path):
            return "student", f"{_recorder.relative(path) if _recorder else path}:{line}"
    for path, line in reversed(frames):
        if path.parent.name == "_pytest" and path.name == "outcomes.py":
            continue
        where = f"{_recorder.relative(path) if _recorder else path}:{line}"
        if path.parent.name == "_pytest" and path.name == "skipping.py":
            return "mark", ""
        if _is_course_test_file(path):
            return "course", where
        return "other", where
    return "other", ""


def _is_course_test_file(path: Path) -> bool:
    """A test file or conftest of the course (under the course's root), or the course's testkit."""
    if _recorder is None:
        return False
    try:
        inside = Path(path).resolve().relative_to(_recorder.root)
    except ValueError:
        return False
    if inside.parts[:1] == ("testkit",):
        return True
    return inside.parts[:1] == ("exercises",) and (path.name.startswith("test_") or path.name == "conftest.py")


# --- turning an exception into a plain sentence ------------------------------------------------------


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return "skipped"


def _explain(excinfo: pytest.ExceptionInfo[BaseException], item: pytest.Item) -> tuple[str, str, str]:
    """The failure in a sentence, where it happened (the student's line, else the test's) and the test's own line."""
    exc = excinfo.value
    own_line = _own_line(excinfo.tb, item)
    location = _student_location(excinfo.tb) or _chained_student_location(exc) or own_line
    return _sentence(exc), location, own_line


def _own_line(tb: Any, item: pytest.Item) -> str:
    """The line of the test function itself that was running (not a helper's it called), as ``path:line``.

    A failure in a fixture has no such frame: then the last line of the test file on the way.
    """
    code = getattr(getattr(item, "function", None), "__code__", None)
    found = ""
    for frame, line in traceback.walk_tb(tb):
        if frame.f_code is code and _recorder is not None:
            found = f"{_recorder.relative(frame.f_code.co_filename)}:{line}"
    return found or _test_location(tb, Path(str(item.path)))


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, then its causes and contexts (``raise … from``, "during handling"), each once."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found and len(found) < 10:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _chained_student_location(exc: BaseException) -> str:
    """The student's line in an exception this one was raised from (a server thread's, re-raised)."""
    for earlier in _chain(exc)[1:]:
        found = _student_location(earlier.__traceback__)
        if found:
            return found
    return ""


_CLIENTS = ("h11", "httpcore", "httpx", "websockets", "wsproto")  # whose "not HTTP" errors blame the bytes


def _unparsable_response(exc: BaseException) -> BaseException | None:
    """The client library's "this is not HTTP" error that ``exc`` is (or wraps: httpx re-raises
    httpcore's, which re-raises h11's): the server's bytes are at fault, not a line of code.

    A test that caught it and failed with its own sentence (an assertion, ``pytest.fail``) keeps it.
    """
    if isinstance(exc, (AssertionError, pytest.fail.Exception)):
        return None
    for earlier in _chain(exc):
        kind = type(earlier)
        if kind.__name__ in ("RemoteProtocolError", "InvalidMessage") and kind.__module__.split(".")[0] in _CLIENTS:
            return earlier
    return None


def _wire() -> Any:
    """``testkit.wire``, when the tests imported it (through testkit.serving); else ``None``."""
    return sys.modules.get("testkit.wire")


def _server_sent(error: BaseException) -> str:
    """ "your server sent …": the bytes the client could not parse, escaped, and what the client said."""
    said = str(error).strip() or type(error).__name__
    wire = _wire()
    try:
        data = bytes(wire.last_received())[:200] if wire is not None else b""
        replay = sys.modules.get("testkit.replay") or importlib.import_module("testkit.replay")
        shown = replay.escape(data)
    except Exception:  # the toolkit is the course's: a broken one must not hide the failure
        data, shown = b"", ""
    if not data:
        if "without sending" in said or "closed" in said.lower():
            return f"your server closed the connection without sending a response (the client said: {said})"
        return f"your server sent a response the client could not parse (it said: {said})"
    more = "…" if len(data) == 200 else ""
    return f'your server sent "{shown}{more}", which is not a valid HTTP response (the client said: {said})'


def _server_report(report: pytest.TestReport) -> dict[str, str]:
    """The server's side of a failed test that drove one (testkit.wire watched it); ``{}`` otherwise."""
    wire = _wire()
    if wire is None or _recorder is None:
        return {}
    try:
        recorded = server_side.as_strings(wire.report())
    except Exception:  # a broken toolkit costs the diagnostic, never the result
        return {}
    if not recorded:
        return {}
    captured = "".join(text for _, text in report.sections if text)
    return server_side.server_side(recorded, captured, _recorder.root, _is_student_file)


def _sentence(exc: BaseException) -> str:
    unparsable = _unparsable_response(exc)
    if unparsable is not None:
        return _server_sent(unparsable)
    rule = wsgi_rules.explain(exc)
    if rule is not None:
        return rule
    if isinstance(exc, AssertionError):
        text = str(exc)
        # pytest appends its own rewrite of the assert ("assert 404 == 200") after the message.
        own, _, _rewritten = text.partition("\nassert ")
        return own.strip() or text.strip() or "an assertion failed"
    if isinstance(exc, NotImplementedError):
        detail = str(exc) or "a function still raises NotImplementedError"
        return f"not written yet: {detail}"
    name = type(exc).__name__
    text = str(exc)
    if name == "Failed":  # pytest.fail(): already a sentence (pytest-timeout uses it too)
        if text.startswith("Timeout"):
            return f"the test ran out of time ({text.splitlines()[0].removeprefix('Timeout ').strip()}): your code may be waiting forever"
        return text.strip()
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, SystemExit):
        code = "" if exc.code is None else repr(exc.code)
        return f"your code called sys.exit({code}), which ends a program: a function under test must return or raise instead"
    if isinstance(exc, RecursionError):
        return f"your code recursed without end ({name}: {text})"
    if isinstance(exc, MemoryError):
        return "your code ran out of memory (MemoryError): it may allocate without end"
    if isinstance(exc, EOFError) or (isinstance(exc, OSError) and "reading from stdin" in text):
        # pytest's stand-in for stdin raises that OSError; a closed stdin gives input() an EOFError.
        return "your code read from standard input (input() or sys.stdin), but no one types during a test: take the data as an argument"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "your code wrote more than the grader allows to one file or to its output: it may print or write without end"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return "a port the test needs is already in use (Address already in use): is a server your code started still holding it?"
    return f"your code raised {name}: {text}" if text else f"your code raised {name}"


def _is_student_file(path: Path) -> bool:
    """A file of an exercise or solution folder that is not a test or conftest."""
    folder = path.parent
    if folder.parent.name not in ("exercises", "solutions"):
        return False
    return not (path.name.startswith("test_") or path.name == "conftest.py")


def _student_location(tb: Any) -> str:
    found = ""
    for frame, line in traceback.walk_tb(tb):
        path = Path(frame.f_code.co_filename)
        if _is_student_file(path) and _recorder is not None:
            found = f"{_recorder.relative(path)}:{line}"
    return found


def _test_location(tb: Any, test_path: Path) -> str:
    found = ""
    for frame, line in traceback.walk_tb(tb):
        if Path(frame.f_code.co_filename).resolve() == test_path.resolve() and _recorder is not None:
            found = f"{_recorder.relative(test_path)}:{line}"
    return found


def _explain_import_error(error: BaseException) -> tuple[str, str]:
    if isinstance(error, SyntaxError):
        location = f"{_recorder.relative(error.filename)}:{error.lineno}" if _recorder and error.filename else ""
        name = Path(error.filename).name if error.filename else "your file"
        kind = "an indentation error" if isinstance(error, IndentationError) else "a syntax error"
        return f"{name} has {kind} on line {error.lineno}: {error.msg}", location
    location = _student_location(error.__traceback__)
    if isinstance(error, ImportError):
        # "cannot import name 'add' from 'adder' (/home/…/adder.py)": the folder only adds noise.
        text = re.sub(r" \([^()]*\.py\)$", "", str(error))
        missing = re.match(r"cannot import name '(\w+)' from '(\w+)'", text)
        if missing:
            name, module = missing.groups()
            return f"the tests could not import your code: {text}: does {module}.py define {name}?", location
        return f"the tests could not import your code: {text}", location
    if isinstance(error, SystemExit):
        code = "" if error.code is None else repr(error.code)
        return f"your code called sys.exit({code}) when the tests imported it: keep that under `if __name__ == \"__main__\":`", location
    return f"importing your code raised {type(error).__name__}: {error}", location
