"""A local stand-in for GitHub's REST API: repository_dispatch, and what closing the loop needs.

``GitHubAPI`` serves on 127.0.0.1 (a ThreadingHTTPServer in a thread) the documented contract of

- ``POST /repos/{owner}/{repo}/dispatches``: ``Authorization: token X`` / ``Bearer X`` checked
  against the configured tokens (401 ``Bad credentials``, or ``Requires authentication``), an
  unknown repository or a token without access → 404 ``Not Found``, a body that is not JSON → 400
  ``Problems parsing JSON`` (as GitHub answers), validation → 422 (event_type missing, empty or
  over 100 characters, client_payload not an object or with more than 10 top-level keys),
  204 with rate-limit headers on success;
- ``GET /repos/{owner}/{repo}`` and ``GET /rate_limit``, in case a client asks;
- deployments, deployment statuses, pull requests and git refs, with GitHub's status codes
  (``tests/harness/github_resources.py``; pulls and refs work on the repository's bare git repo
  given to ``add_repo(…, git=)``);
- scripted faults, one per request, from a queue (``fail_next``): 5xx, 429 with ``retry-after``,
  403 with ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset``.

Every request is recorded (method, path, headers without ``Authorization``, JSON body, status).
On a 204 the event goes to ``on_dispatch(owner, repo, event_type, client_payload)`` in a delivery
thread, so the 204 is answered at once, as GitHub does; ``wait_for_deliveries`` waits for them.
``ActDelivery`` (tests/harness/delivery.py) is such a hook: it runs act for
``repository_dispatch`` on the config repo's default branch, only for the workflows whose
``types`` match (act 0.2.89 itself runs every ``repository_dispatch`` workflow whatever the
event's ``action``).
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.harness.delivery import (  # noqa: F401 - re-exported: the API's delivery hook
    ActDelivery,
    DeliveryRun,
    _repository_json,
    dispatch_event,
    dispatch_types,
    iter_results,
    matching_workflows,
)
from tests.harness.github_resources import GitBacking, Resources

DOCS = "https://docs.github.com/rest"
DISPATCH_DOCS = f"{DOCS}/repos/repos#create-a-repository-dispatch-event"
RATE_LIMIT = 5000
_DISPATCH_PATH = re.compile(r"/repos/([^/]+)/([^/]+)/dispatches")
_REPO_PATH = re.compile(r"/repos/([^/]+)/([^/]+)")
_RESOURCE_PATH = re.compile(r"/repos/([^/]+)/([^/]+)(/(?:deployments|pulls|git)(?:/.*)?)")

DispatchHook = Callable[[str, str, str, dict[str, Any]], Any]


@dataclass(frozen=True)
class Fault:
    """A scripted answer to the next request."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    path_suffix: str = ""  # only for a request whose path ends so ("": any request)
    method: str = ""  # answer only a request of this method ("": any)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names; Authorization left out
    body: Any  # parsed JSON, the raw text when it is not JSON, None when empty
    status: int
    auth_scheme: str  # "token", "bearer", "" (none), or "other"


@dataclass
class Delivery:
    """One accepted dispatch and what the hook made of it."""

    owner: str
    repo: str
    event_type: str
    client_payload: dict[str, Any]
    result: Any = None
    error: BaseException | None = None
    done: bool = False


class GitHubAPI:
    """The server, its configuration and what it saw. Use as a context manager."""

    def __init__(self, *, delivery_workers: int = 1) -> None:
        self._lock = threading.Lock()
        self._repos: dict[str, str] = {}  # lower-case full name → default branch
        self._tokens: dict[str, frozenset[str] | None] = {}  # token → repos (None: all)
        self._logins: dict[str, str] = {}  # token → the user it belongs to
        self.resources = Resources(lambda: self.url)
        self._faults: deque[Fault] = deque()
        self._requests: list[RecordedRequest] = []
        self._deliveries: list[Delivery] = []
        self._remaining: dict[str, int] = {}
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._idle = threading.Condition(self._lock)
        self._workers = [threading.Thread(target=self._deliver, daemon=True,
                                          name=f"github-api-delivery-{i}")
                         for i in range(delivery_workers)]
        self.on_dispatch: DispatchHook | None = None
        self._runs: dict[tuple[str, int], dict[str, Any]] = {}  # workflow runs block, below
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="github-api")

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> GitHubAPI:
        self._thread.start()
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout=5)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- configuration -----------------------------------------------------------------------
    def add_repo(self, full_name: str, default_branch: str = "main", *,
                 git: Path | None = None, merge_methods: tuple[str, ...] = ("merge", "squash")
                 ) -> None:
        """A repository; ``git`` is its bare repo (refs, pull requests, deployment refs)."""
        with self._lock:
            self._repos[full_name.lower()] = default_branch
            if git is not None:
                self.resources.git[full_name.lower()] = GitBacking(git)
            self.resources.merge_methods[full_name.lower()] = merge_methods

    def add_token(self, token: str, repos: Iterable[str] | None = None,
                  login: str = "release-bot") -> None:
        """A token of ``login`` that may write to ``repos`` (None: to every known repository)."""
        with self._lock:
            self._tokens[token] = None if repos is None else frozenset(r.lower() for r in repos)
            self._logins[token] = login
            self._remaining[token] = RATE_LIMIT

    def deployment_statuses(self, repo: str, deployment_id: int) -> list[str]:
        """The states of a deployment's statuses, oldest first."""
        with self.resources._lock:
            found = self.resources.deployments.get(deployment_id)
            if found is None or found.repo != repo.lower():
                return []
            return [status["state"] for status in found.statuses]

    def deployments_of(self, repo: str) -> list[dict[str, Any]]:
        """Every deployment of ``repo``, oldest first, as the API shows it."""
        with self.resources._lock:
            return [self.resources.deployment_json(d)
                    for d in sorted(self.resources.deployments.values(), key=lambda d: d.id)
                    if d.repo == repo.lower()]

    def fail_next(self, status: int, *, retry_after: int | None = None,
                  rate_limit_reset: int | None = None, message: str | None = None,
                  path_suffix: str = "", method: str = "") -> None:
        """Queue a fault for the next request whose path ends with ``path_suffix`` (e.g.
        ``/dispatches``) and, when given, of ``method`` (e.g. the dispatch ``POST`` after
        release.yml's ``GET`` of the config repository): 5xx, 429 (``retry_after``), 403 rate
        limit (``rate_limit_reset``: epoch seconds, with ``x-ratelimit-remaining: 0``)."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        if rate_limit_reset is not None:
            headers.update({"x-ratelimit-limit": str(RATE_LIMIT), "x-ratelimit-remaining": "0",
                            "x-ratelimit-used": str(RATE_LIMIT),
                            "x-ratelimit-reset": str(rate_limit_reset),
                            "x-ratelimit-resource": "core"})
        if message is None:
            message = {403: "API rate limit exceeded for user ID 1.",
                       429: "You have exceeded a secondary rate limit. Please wait a few minutes "
                            "before you try again."}.get(status, "Server Error")
        with self._lock:
            self._faults.append(Fault(status, headers, {"message": message,
                                                        "documentation_url": DOCS}, path_suffix,
                                      method))

    # -- what happened -----------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def dispatch_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/dispatches")]

    def login_of(self, token: str | None) -> str:
        with self._lock:
            return self._logins.get(token or "", "")

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def wait_for_deliveries(self, timeout: float = 600) -> list[Delivery]:
        """Wait until every accepted dispatch has been delivered; the deliveries so far."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while not all(d.done for d in self._deliveries):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"deliveries still running after {timeout} s")
                self._idle.wait(left)
            return list(self._deliveries)

    # -- internals ---------------------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_fault(self, path: str, method: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.split("?")[0].endswith(fault.path_suffix) and \
                        fault.method in ("", method):
                    self._faults.remove(fault)
                    return fault
            return None

    def _access(self, token: str | None, owner: str, repo: str) -> int:
        """401, 404, or 0 when the token may write to the repository."""
        full = f"{owner}/{repo}".lower()
        with self._lock:
            if token is None or token not in self._tokens:
                return 401
            allowed = self._tokens[token]
            if full not in self._repos or (allowed is not None and full not in allowed):
                return 404
            self._remaining[token] -= 1
            return 0

    def _rate_headers(self, token: str | None) -> dict[str, str]:
        with self._lock:
            remaining = self._remaining.get(token or "", RATE_LIMIT)
        return {"x-ratelimit-limit": str(RATE_LIMIT), "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-used": str(RATE_LIMIT - remaining),
                "x-ratelimit-reset": str(int(time.time()) + 3600), "x-ratelimit-resource": "core"}

    def _accept(self, owner: str, repo: str, event_type: str, payload: dict[str, Any]) -> None:
        delivery = Delivery(owner, repo, event_type, payload)
        with self._lock:
            self._deliveries.append(delivery)
        self._queue.put(delivery)

    def _deliver(self) -> None:
        while (delivery := self._queue.get()) is not None:
            try:
                if self.on_dispatch is not None:
                    delivery.result = self.on_dispatch(delivery.owner, delivery.repo,
                                                       delivery.event_type, delivery.client_payload)
            except BaseException as exc:  # reported to the test through the Delivery
                delivery.error = exc
            finally:
                with self._idle:
                    delivery.done = True
                    self._idle.notify_all()

    def default_branch(self, owner: str, repo: str) -> str:
        with self._lock:
            return self._repos.get(f"{owner}/{repo}".lower(), "main")


def validate_dispatch_body(body: Any) -> str | None:
    """GitHub's 422 message for a dispatch body, or None when it is valid."""
    if not isinstance(body, dict):
        return "Invalid request.\n\nFor 'links/0/schema', is not an object."
    event_type = body.get("event_type")
    if not isinstance(event_type, str) or event_type == "":
        return "Invalid request.\n\n\"event_type\" wasn't supplied."
    if len(event_type) > 100:
        return "Invalid request.\n\nevent_type is too long (maximum is 100 characters)."
    payload = body.get("client_payload", {})
    if not isinstance(payload, dict):
        return "Invalid request.\n\nFor 'properties/client_payload', is not an object."
    if len(payload) > 10:
        return "Invalid request.\n\nNo more than 10 properties are allowed; " \
               f"{len(payload)} were supplied."
    return None


def _handler_for(api: GitHubAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "GitHub.com"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read .requests
            pass

        def _token(self) -> tuple[str | None, str]:
            value = self.headers.get("Authorization")
            if value is None:
                return None, ""
            scheme, _, token = value.partition(" ")
            if scheme.lower() in {"token", "bearer"} and token:
                return token.strip(), scheme.lower()
            return "", "other"

        def _send(self, status: int, body: Mapping[str, Any] | None,
                  headers: Mapping[str, str]) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if data:
                self.wfile.write(data)

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            body: Any = None
            parsed = True
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body, parsed = raw, False
            token, scheme = self._token()
            status, answer, headers = self._answer(method, token, body, parsed)
            api._record(RecordedRequest(
                method, self.path,
                {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"},
                body, status, scheme))
            match = _DISPATCH_PATH.fullmatch(self.path)
            if status == 204 and match is not None and method == "POST":
                # queued before answering, so a test never waits on an empty list
                api._accept(match[1], match[2], body["event_type"],
                            dict(body.get("client_payload") or {}))
            self._send(status, answer, headers)

        def _answer(self, method: str, token: str | None, body: Any,
                    parsed: bool) -> tuple[int, Mapping[str, Any] | None, Mapping[str, str]]:
            fault = api._next_fault(self.path, method)
            if fault is not None:
                return fault.status, fault.body, fault.headers
            if token is None:
                return 401, {"message": "Requires authentication", "documentation_url": DOCS}, {}
            run = _answer_run(api, self.path, token, method)
            if run is not None:
                return run
            path, _, query = self.path.partition("?")
            resource = _RESOURCE_PATH.fullmatch(path)
            if resource is not None:
                return self._resource(method, token, resource, query, body, parsed)
            dispatch = _DISPATCH_PATH.fullmatch(self.path)
            repo = _REPO_PATH.fullmatch(self.path)
            target = dispatch or repo
            if target is None and self.path != "/rate_limit":
                return 404, {"message": "Not Found", "documentation_url": DOCS}, {}
            owner, name = (target[1], target[2]) if target else ("", "")
            access = api._access(token, owner, name) if target else (
                0 if token in api._tokens else 401)
            rate = api._rate_headers(token)
            if access == 401:
                return 401, {"message": "Bad credentials", "documentation_url": DOCS}, {}
            if access == 404:
                return 404, {"message": "Not Found", "documentation_url": DISPATCH_DOCS}, rate
            if self.path == "/rate_limit":
                core = {k.removeprefix("x-ratelimit-"): v for k, v in rate.items()}
                return 200, {"resources": {"core": core}, "rate": core}, rate
            if method == "GET" and dispatch is None:
                return 200, _repository_json(owner, name, api.default_branch(owner, name)), rate
            if method != "POST" or dispatch is None:
                return 404, {"message": "Not Found", "documentation_url": DOCS}, rate
            if not parsed:
                return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS}, rate
            problem = validate_dispatch_body(body)
            if problem is not None:
                return 422, {"message": problem, "documentation_url": DISPATCH_DOCS,
                             "status": "422"}, rate
            return 204, None, rate

        def _resource(self, method: str, token: str, match: re.Match[str], query: str,
                      body: Any, parsed: bool
                      ) -> tuple[int, Mapping[str, Any] | None, Mapping[str, str]]:
            access = api._access(token, match[1], match[2])
            rate = api._rate_headers(token)
            if access == 401:
                return 401, {"message": "Bad credentials", "documentation_url": DOCS}, {}
            if access == 404:
                return 404, {"message": "Not Found", "documentation_url": DOCS}, rate
            if not parsed:
                return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS}, rate
            params = dict(urllib.parse.parse_qsl(query))
            answer = api.resources.route(method, f"{match[1]}/{match[2]}".lower(),
                                         urllib.parse.unquote(match[3]), params, body,
                                         api.login_of(token))
            if answer is None:
                return 404, {"message": "Not Found", "documentation_url": DOCS}, rate
            return answer[0], answer[1], rate

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


# -- workflow runs: GET /repos/{owner}/{repo}/actions/runs/{run_id} (the receiver's source check) --
# Kept apart from the dispatch contract above. The token must be one the server knows and that may
# see the repository (401 / 404 as for the repository itself); an unknown run is 404.
_RUN_PATH = re.compile(r"/repos/([^/]+)/([^/]+)/actions/runs/([0-9]+)")


def add_run(api: GitHubAPI, full_name: str, run_id: int, head_sha: str, *, event: str = "push",
            head_branch: str = "main") -> None:
    """A workflow run of ``full_name`` (which must be added with ``add_repo``) at ``head_sha``."""
    owner, name = full_name.split("/")
    with api._lock:
        api._runs[(full_name.lower(), run_id)] = {
            "id": run_id, "head_sha": head_sha, "head_branch": head_branch, "event": event,
            "status": "completed", "conclusion": "success", "run_attempt": 1,
            "html_url": f"https://github.com/{full_name}/actions/runs/{run_id}",
            "repository": {"full_name": full_name, "name": name, "owner": {"login": owner}}}


def _answer_run(api: GitHubAPI, path: str, token: str | None,
                method: str) -> tuple[int, Mapping[str, Any] | None, Mapping[str, str]] | None:
    match = _RUN_PATH.fullmatch(path)
    if match is None or method != "GET":
        return None
    access = api._access(token, match[1], match[2])
    if access == 401:
        return 401, {"message": "Bad credentials", "documentation_url": DOCS}, {}
    with api._lock:
        run = api._runs.get((f"{match[1]}/{match[2]}".lower(), int(match[3])))
    if access == 404 or run is None:
        return 404, {"message": "Not Found", "documentation_url": DOCS}, api._rate_headers(token)
    return 200, run, api._rate_headers(token)
