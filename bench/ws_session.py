"""A Streamlit session without a browser: the websocket protocol the frontend speaks, for load tests.

One :class:`WsSession` is one browser tab as the server sees it: it opens ``/_stcore/stream``, asks for
script runs with widget states (a ``BackMsg``), reads the elements the script sends (``ForwardMsg``
deltas) and uploads files the way the frontend does (ask for upload URLs, ``PUT`` the file with the
XSRF cookie and header, then rerun with the uploader's state). It renders nothing, so a load test on
one machine measures the server, not N copies of the frontend's JavaScript competing for the CPU.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import time
import urllib.request
import uuid
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

XSRF_COOKIE = "_streamlit_xsrf"


@dataclass
class RunResult:
    """What one script run sent: its elements, in order, by kind."""
    images: list[str] = field(default_factory=list)  # captions of every image shown
    radios: dict[str, object] = field(default_factory=dict)  # label -> Radio proto
    uploaders: list[object] = field(default_factory=list)  # FileUploader protos
    texts: list[str] = field(default_factory=list)  # headings and markdown
    widgets: dict[str, object] = field(default_factory=dict)  # user key -> widget proto (any kind)
    exceptions: list[str] = field(default_factory=list)


class WsSession:
    """One Streamlit session driven over its websocket (use ``async with``)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session_id: str | None = None
        self._cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self._cookies))
        self._ws = None
        self._messages: asyncio.Queue[ForwardMsg] = asyncio.Queue()
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> WsSession:
        await asyncio.to_thread(  # the health check sets the XSRF cookie, as the frontend gets it
            lambda: self._opener.open(self.url + "/_stcore/health", timeout=60).read())
        token = self._xsrf()
        ws_url = "ws" + self.url[len("http"):] + "/_stcore/stream"
        headers = {"Origin": self.url}
        if token:
            headers["Cookie"] = f"{XSRF_COOKIE}={token}"
        self._ws = await websockets.connect(ws_url, subprotocols=["streamlit", token or "PLACEHOLDER_AUTH_TOKEN"],
                                            additional_headers=headers, max_size=None, open_timeout=60)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            await self._ws.close()

    def _xsrf(self) -> str | None:
        return next((c.value for c in self._cookies if c.name == XSRF_COOKIE), None)

    async def _read(self) -> None:
        async for raw in self._ws:
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            if msg.WhichOneof("type") == "new_session":
                self.session_id = msg.new_session.initialize.session_id or self.session_id
            await self._messages.put(msg)

    async def run(self, widget_states: list | None = None, until=None, timeout: float = 600,
                  page: str = "") -> RunResult:
        """Ask for a script run and collect what it sends until ``until(result)`` is true or it finishes.

        ``page``: a page's url path ("train"); the default is the page the session is on.
        """
        back = BackMsg()
        back.rerun_script.query_string = ""
        back.rerun_script.page_script_hash = ""
        back.rerun_script.page_name = page
        for state in widget_states or []:
            back.rerun_script.widget_states.widgets.append(state)
        await self._ws.send(back.SerializeToString())
        result = RunResult()
        deadline = time.monotonic() + timeout
        started = False  # what is still queued from an earlier run (read on past its `until`) is skipped
        while True:
            msg = await asyncio.wait_for(self._messages.get(), max(0.1, deadline - time.monotonic()))
            kind = msg.WhichOneof("type")
            if kind == "new_session":  # every script run starts with one
                started = True
            if not started:
                continue
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                _collect(msg.delta.new_element, result)
                if until is not None and until(result):
                    return result
            elif kind == "script_finished":
                return result

    async def upload(self, uploader, name: str, data: bytes):
        """Upload ``data`` into ``uploader`` as the frontend does; returns the uploader's new widget state."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        request_id = uuid.uuid4().hex
        back = BackMsg()
        back.file_urls_request.request_id = request_id
        back.file_urls_request.file_names.append(name)
        back.file_urls_request.session_id = self.session_id or ""
        await self._ws.send(back.SerializeToString())
        while True:  # other messages (a finishing run) may come first; they are not needed here
            msg = await asyncio.wait_for(self._messages.get(), 120)
            if msg.WhichOneof("type") == "file_urls_response" and msg.file_urls_response.response_id == request_id:
                break
        response = msg.file_urls_response
        if response.error_msg:
            raise RuntimeError(f"upload refused: {response.error_msg}")
        urls = response.file_urls[0]
        await asyncio.to_thread(self._put, urls.upload_url, name, data)
        state = WidgetState(id=uploader.id)
        info = state.file_uploader_state_value.uploaded_file_info.add()
        info.name, info.size, info.file_id = name, len(data), urls.file_id
        info.file_urls.CopyFrom(urls)
        return state

    def _put(self, upload_url: str, name: str, data: bytes) -> None:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        url = upload_url if upload_url.startswith("http") else self.url + upload_url
        request = urllib.request.Request(url, data=body, method="PUT",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        token = self._xsrf()
        if token:
            request.add_header("X-Xsrftoken", token)
        with self._opener.open(request, timeout=120) as reply:
            reply.read()


def radio_state(radio, value: str):
    """The widget state that picks ``value`` in a radio (sent by its formatted label)."""
    return widget_state(radio, string_value=value)


def widget_state(widget, **value):
    """A widget's state, e.g. ``widget_state(w, double_value=3)`` or ``widget_state(w, trigger_value=True)``."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    return WidgetState(id=widget.id, **value)


def _collect(element, result: RunResult) -> None:
    kind = element.WhichOneof("type")
    proto = getattr(element, kind)
    widget_id = getattr(proto, "id", "")
    if widget_id.startswith("$$ID-"):  # "$$ID-<hash>-<user key>" for widgets given a key
        result.widgets[widget_id.split("-", 2)[-1]] = proto
    if kind == "imgs":
        result.images.extend(img.caption for img in element.imgs.imgs)
    elif kind == "radio":
        result.radios[element.radio.label] = element.radio
    elif kind == "file_uploader":
        result.uploaders.append(element.file_uploader)
    elif kind == "heading":
        result.texts.append(element.heading.body)
    elif kind == "markdown":
        result.texts.append(element.markdown.body)
    elif kind == "exception":
        result.exceptions.append(element.exception.message)
