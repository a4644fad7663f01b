"""The pytest plugin the grader loads into each exercise's child process (``-p grader.plugin``).

It writes one JSON line per event to the file named by ``$KATA_RESULTS`` as the run goes, and flushes
each line: when the student's code kills the process (``os._exit``, a segfault) or the grader kills it
for taking too long, the lines already written still say which tests ran and which one was running.

For each test it records the outcome and a message in plain words: the assertion's own message
("expected …, got …"), or what the student's code raised, with the file and line in the student's code
where it happened (not deep inside pytest or httpx).

Under the grader (``$KATA_MEMORY_LIMIT`` set) it also caps the process's data size before any of the
student's code is imported, so that an allocation without end fails the test with a ``MemoryError``
instead of eating the machine, and turns core dumps off, so that a segfault leaves no core file behind.
Its last event names the non-daemon threads still running when the tests finished: those keep the
process from exiting, and the grader stops it and says why.
"""

from __future__ import annotations

import errno
import inspect
import json
import os
import re
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest

OUTPUT_LIMIT = 500


class _Recorder:
    def __init__(self, path: str, root: Path) -> None:
        self.file = open(path, "a", encoding="utf-8")
        self.root = root
        self.items: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, dict[str, Any]] = {}
        self.collect_errors: set[str] = set()

    def write(self, event: dict[str, Any]) -> None:
        self.file.write(json.dumps(event) + "\n")
        self.file.flush()

    def relative(self, path: str | os.PathLike[str]) -> str:
        try:
            return str(Path(path).resolve().relative_to(self.root))
        except ValueError:
            return str(path)


_recorder: _Recorder | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _recorder
    path = os.environ.get("KATA_RESULTS")
    if path and _recorder is None:
        _recorder = _Recorder(path, Path(str(config.rootpath)).resolve())
        _recorder.write({"event": "begin", "pid": os.getpid()})
    _limit_resources(os.environ.get("KATA_MEMORY_LIMIT"), os.environ.get("KATA_FILE_LIMIT"))


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if _recorder is None:
        return
    sources: dict[object, str] = {}  # parametrized tests share one function: read its source once
    for order, item in enumerate(items):
        spec = item.get_closest_marker("spec")
        function = getattr(item, "function", None)
        if function not in sources:
            try:
                sources[function] = inspect.getsource(function) if function is not None else ""
            except (OSError, TypeError):
                sources[function] = ""
        code = sources[function]
        _recorder.items[item.nodeid] = {
            "order": order,
            "spec": str(spec.args[0]) if spec and spec.args else "",
            "reference": item.get_closest_marker("reference") is not None,
            "test_code": code,
        }
    _recorder.write({"event": "collected", "count": len(items)})


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report = yield
    if _recorder is None or not report.failed or call.excinfo is None:
        return report
    message, location = _explain(call.excinfo, item)
    entry = _recorder.pending.setdefault(item.nodeid, {})
    if "message" not in entry:  # the first failure (setup or call) is the one to explain
        entry.update(message=message, location=location, when=report.when)
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
        _recorder.write(
            {
                "event": "test",
                "nodeid": report.nodeid,
                "outcome": entry["outcome"],
                "message": entry.get("message", ""),
                "location": entry.get("location", ""),
                "duration": round(entry["duration"], 4),
                "output": entry.get("output", ""),
                "spec": info.get("spec", ""),
                "reference": info.get("reference", False),
                "test_code": info.get("test_code", ""),
            }
        )
        _recorder.pending.pop(report.nodeid, None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _recorder is not None:
        # Non-daemon threads still running now keep the interpreter from exiting: the grader waits a
        # little, then stops the process, and names them to the student.
        lingering = [
            t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()
        ]
        _recorder.write({"event": "finish", "exitstatus": int(exitstatus), "threads": lingering})
        _recorder.file.close()


# --- turning an exception into a plain sentence ------------------------------------------------------


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return "skipped"


def _explain(excinfo: pytest.ExceptionInfo[BaseException], item: pytest.Item) -> tuple[str, str]:
    exc = excinfo.value
    location = _student_location(excinfo.tb) or _test_location(excinfo.tb, Path(str(item.path)))
    return _sentence(exc), location


def _sentence(exc: BaseException) -> str:
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
