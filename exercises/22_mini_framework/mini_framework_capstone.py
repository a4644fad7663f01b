"""The capstone: a small tasks and notes API with a WebSocket echo, built on YOUR mini_framework.

You never edit this file: it is what a user of your framework would write. Its tests
(``test_mini_framework_capstone.py``) run it under uvicorn and under your own server from exercise 15.

Run it by hand from this folder::

    uvicorn mini_framework_capstone:app --port 8000
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mini_framework import (
    App,
    HTMLResponse,
    HTTPException,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Request,
    Response,
    StreamingResponse,
    WebSocket,
    WebSocketDisconnect,
)

NOTES = {
    "welcome.txt": "Welcome to the capstone.",
    "guides/asgi.txt": "scope, receive, send: that is all.",
}


class PoweredByMiddleware:
    """Pure ASGI middleware: adds ``x-powered-by`` to every HTTP response, and times the request."""

    def __init__(self, app: Any, name: str = "mini_framework") -> None:
        self.app = app
        self.name = name.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_header(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                took = f"app;dur={(time.perf_counter() - started) * 1000:.1f}".encode()
                headers = [*message.get("headers", []), (b"x-powered-by", self.name), (b"server-timing", took)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)


def make_app() -> App:
    """A fresh app with an empty task list (each test gets its own)."""
    app = App()
    tasks: dict[int, dict[str, Any]] = {}
    counter = {"next_id": 1}
    lifecycle: list[str] = []
    app.lifecycle = lifecycle  # type: ignore[attr-defined]  # for the tests to read

    @app.on_startup
    async def open_store() -> None:
        await asyncio.sleep(0)
        lifecycle.append("startup")

    @app.on_shutdown
    def close_store() -> None:
        lifecycle.append("shutdown")

    @app.get("/")
    async def home(request: Request) -> Response:
        return HTMLResponse(f"<h1>Tasks</h1><p>{len(tasks)} task(s)</p>")

    @app.get("/tasks")
    async def list_tasks(request: Request) -> Any:
        done = request.query_params.get("done")
        found = list(tasks.values())
        if done is not None:
            found = [t for t in found if t["done"] == (done == "true")]
        return {"tasks": found}

    @app.post("/tasks")
    async def create_task(request: Request) -> Response:
        data = await request.json()
        title = data.get("title") if isinstance(data, dict) else None
        if not isinstance(title, str) or not title.strip():
            raise HTTPException(422, "a task needs a non-empty 'title'")
        task = {"id": counter["next_id"], "title": title.strip(), "done": False}
        tasks[task["id"]] = task
        counter["next_id"] += 1
        return JSONResponse(task, status_code=201, headers={"location": f"/tasks/{task['id']}"})

    def find(task_id: int) -> dict[str, Any]:
        if task_id not in tasks:
            raise HTTPException(404, f"no task {task_id}")
        return tasks[task_id]

    @app.get("/tasks/{task_id:int}")
    async def show_task(request: Request) -> Any:
        return find(request.path_params["task_id"])

    @app.patch("/tasks/{task_id:int}")
    async def update_task(request: Request) -> Any:
        task = find(request.path_params["task_id"])
        data = await request.json()
        if not isinstance(data, dict):
            raise HTTPException(422, "send a JSON object")
        if "done" in data:
            task["done"] = bool(data["done"])
        if "title" in data:
            task["title"] = str(data["title"])
        return task

    @app.delete("/tasks/{task_id:int}")
    async def delete_task(request: Request) -> Response:
        find(request.path_params["task_id"])
        del tasks[request.path_params["task_id"]]
        return Response(status_code=204)

    @app.get("/old-tasks")
    async def old_tasks(request: Request) -> Response:
        return RedirectResponse("/tasks", status_code=301)

    @app.get("/notes/{name:path}")
    async def note(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in NOTES:
            raise HTTPException(404, f"no note {name!r}")
        return PlainTextResponse(NOTES[name])

    @app.get("/count/{upto:int}")
    async def count(request: Request) -> Response:
        async def numbers() -> Any:
            for i in range(1, request.path_params["upto"] + 1):
                yield f"{i}\n"
                await asyncio.sleep(0)

        return StreamingResponse(numbers(), media_type="text/plain")

    @app.route("/echo-headers", methods=["GET", "POST"])
    async def echo_headers(request: Request) -> Any:
        return {"method": request.method, "x-client": request.headers.get("x-client"), "body": (await request.body()).decode()}

    @app.websocket("/ws/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                text = await websocket.receive_text()
                if text == "bye":
                    await websocket.send_text("goodbye")
                    await websocket.close(1000)
                    return
                await websocket.send_text(f"echo: {text}")
        except WebSocketDisconnect:
            pass

    app.add_middleware(PoweredByMiddleware, name="capstone")
    return app


def __getattr__(name: str) -> Any:
    """``mini_framework_capstone:app`` (for uvicorn and your servers) is built on first use, so that
    importing this module works even before your framework does."""
    if name == "app":
        globals()["app"] = built = make_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
