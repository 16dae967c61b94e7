"""``segsync console``: the admin's web console (Starlette, Jinja2, Chart.js served locally).

Every route but the login form and its stylesheet needs a session: pages redirect to
the login, everything else answers 401. Every action is a POST carrying the session's
CSRF token. Pages read the state store only; the one action that reaches the CRM (a
dead-letter retry) is logged with who asked (the session) and what it did.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from connectors.base import FindsByEmail, ObjectType
from segmentation.playbook import Playbook
from workers.cli.errors import describe
from workers.cli.text import crm_name
from workers.console import charts, data
from workers.console.preview import Previews, as_csv, page_of
from workers.console.sessions import LOGIN_COOKIE, SESSION_COOKIE, Session, Sessions, same
from workers.settings import Settings
from workers.state import RunStatus, StateStore
from workers.sync.plan import load_playbook
from workers.sync.runner import build_connector

log = logging.getLogger(__name__)
HERE = Path(str(resources.files("workers") / "console"))
OPEN_PATHS = ("/login", "/static/console.css")
MAX_FORM_BYTES = 16 * 1024
MAX_EMAIL = 254  # RFC 5321's longest address
VALIDATION_TESTS = ("measurable", "accessible", "substantial", "differentiable", "actionable")
VALUE_MODEL = "value_tier"  # value-based with predictive CLV: its page shows CLV and revenue


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda n: f"{int(n or 0):,}"
    env.filters["round1"] = lambda x: "" if x is None else f"{float(x):,.1f}"
    env.filters["seconds"] = lambda x: f"{float(x or 0):,.0f} s"
    env.filters["total"] = _total
    env.filters["pct"] = lambda x: "\u2013" if x is None else f"{100 * float(x):,.1f} %"
    env.filters["money"] = lambda x: "\u2013" if x is None else f"{float(x):,.0f}"
    env.globals["TESTS"] = VALIDATION_TESTS
    env.globals["static"] = lambda name: f"/static/{quote(name)}"
    return env


def _total(counts: dict[str, Any], *keys: str) -> int:
    for key in keys:
        value = counts.get(key)
        if isinstance(value, dict):
            return sum(int(v or 0) for v in value.values())
        if isinstance(value, int | float):
            return int(value)
    return 0


def create_console(settings: Settings, store: StateStore | None = None) -> Starlette:
    """The console app; ``SEGSYNC_CONSOLE_PASSWORD`` must be set (checked by the caller)."""
    assert settings.console_password is not None, "the console needs a password"
    password = settings.console_password.get_secret_value()
    state = store or StateStore(settings.database_url)
    sessions = Sessions()
    previews = Previews(settings)
    templates = _templates()

    def page(
        request: Request, template: str, session: Session | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        context.setdefault("charts", {})
        context.setdefault("flash", request.query_params.get("flash", "")[:200])
        html = templates.get_template(template).render(
            logged_in=session is not None, csrf=session.csrf if session else "", **context
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'self'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    def secure(request: Request) -> bool:
        return request.url.scheme == "https"

    Handler = Callable[[Request, Session], Awaitable[Response]]

    def needs_login(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            session = sessions.find(request.cookies.get(SESSION_COOKIE))
            if session is None:
                if request.method == "GET" and not request.url.path.startswith("/api/"):
                    return RedirectResponse("/login", status_code=303)
                return JSONResponse({"error": "log in first"}, status_code=401)
            if request.method == "POST":
                form = await _form(request)
                if form is None or not same(form.get("csrf"), session.csrf):
                    return JSONResponse({"error": "missing or wrong CSRF token"}, 403)
                request.state.form = form
            return await handler(request, session)

        return guarded

    async def login(request: Request) -> Response:
        if request.method == "GET":
            token = request.cookies.get(LOGIN_COOKIE) or _token()
            response = page(request, "login.html", None, title="Log in", login_csrf=token)
            _set_cookie(response, LOGIN_COOKIE, token, secure(request), max_age=3600)
            return response
        address = request.client.host if request.client else "?"
        if sessions.throttled(address):
            return JSONResponse({"error": "too many failed logins; wait 5 minutes"}, 429)
        form = await _form(request)
        expected = request.cookies.get(LOGIN_COOKIE) or ""
        if form is None or not expected or not same(form.get("csrf"), expected):
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        if not same(form.get("password"), password):
            sessions.failed(address)
            log.warning("console: failed login from %s", address)
            return page(
                request, "login.html", None, 401, title="Log in", login_csrf=expected,
                error="Wrong password.",
            )  # fmt: skip
        # A fresh session, whatever cookie came in: a planted token is never promoted.
        sessions.end(request.cookies.get(SESSION_COOKIE))
        session = sessions.start()
        log.info("console: login from %s", address)
        welcome = RedirectResponse("/", status_code=303)
        _set_cookie(welcome, SESSION_COOKIE, session.token, secure(request))
        welcome.delete_cookie(LOGIN_COOKIE, path="/")
        return welcome

    async def logout(request: Request, session: Session) -> Response:
        sessions.end(session.token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def overview(request: Request, session: Session) -> Response:
        found = await run_in_threadpool(data.overview, state, settings.crms)
        specs: dict[str, str] = {}
        for crm in found:
            crm["name"] = crm_name(crm["crm"])
            crm["bars"] = []
            pairs = charts.model_names(crm["sizes"])
            for n, (object_type, model) in enumerate(pairs):
                chart_id = f"{crm['crm']}-bar-{n}"
                title = f"{object_type} · {model}"
                specs[chart_id] = charts.embedded(
                    charts.sizes_bar(crm["sizes"][object_type][model], title)
                )
                href = f"/models/{crm['crm']}/{quote(object_type)}/{quote(model)}"
                crm["bars"].append({"id": chart_id, "title": title, "href": href})
            if pairs and len(crm["history"]) > 0:
                object_type, model = pairs[0]
                crm["trend"] = f"{crm['crm']}-trend"
                specs[crm["trend"]] = charts.embedded(
                    charts.sizes_over_time(
                        crm["history"], object_type, model, f"{object_type} · {model} over time"
                    )
                )
        return page(request, "overview.html", session, title="Overview", crms=found, charts=specs)

    async def runs(request: Request, session: Session) -> Response:
        crm = request.query_params.get("crm")
        listed = await run_in_threadpool(state.list_runs, 100, crm=crm)
        context = {"runs": [data.run_json(r) for r in listed]}
        return page(request, "runs.html", session, title="Runs", crm=context)

    async def run(request: Request, session: Session) -> Response:
        try:
            run_id = int(request.path_params["run_id"])
        except ValueError:
            return page(request, "runs.html", session, 404, title="Runs", crm={"runs": []})
        found = await run_in_threadpool(state.get_run, run_id)
        if found is None:
            return page(request, "runs.html", session, 404, title="Runs", crm={"runs": []})
        shown = data.run_json(found)
        counts = shown["counts"] or {}
        scalars = [
            (k, f"{v:,}" if isinstance(v, int) else v)
            for k, v in counts.items()
            if isinstance(v, int | float | str) and not isinstance(v, bool)
        ]
        moves = [
            {"object_type": t, "model": m, "pairs": sorted(p.items(), key=lambda kv: -kv[1])}
            for t, models in (counts.get("segment_moves") or {}).items()
            for m, p in models.items()
        ]
        specs, sizes = {}, []
        table = counts.get("segment_sizes") or {}
        for n, (object_type, model) in enumerate(charts.model_names(table)):
            chart_id = f"run-bar-{n}"
            specs[chart_id] = charts.embedded(
                charts.sizes_bar(table[object_type][model], f"{object_type} · {model}")
            )
            sizes.append({"id": chart_id})
        return page(
            request, "run.html", session, title=f"Run #{run_id}", run=shown,
            crm_name=crm_name(found.crm), scalars=scalars, moves=moves, sizes=sizes,
            charts=specs,
        )  # fmt: skip

    async def model(request: Request, session: Session) -> Response:
        crm = request.path_params["crm"]
        object_type = request.path_params["object_type"]
        name = request.path_params["model"]
        if crm not in settings.crms:
            return JSONResponse({"error": f"unknown CRM {crm!r}"}, status_code=404)
        listed = await run_in_threadpool(state.list_runs, data.HISTORY_RUNS, crm=crm)
        history = data.size_history(listed)
        whole = [point["run_id"] for point in history]
        latest = data.latest_sizes(listed)
        current = latest["sizes"].get(object_type, {}).get(name) if latest else None
        if current is None:
            return JSONResponse({"error": f"no sizes for {object_type} {name}"}, 404)
        newest = max((r.id for r in listed if r.status is RunStatus.SUCCEEDED), default=0)
        after = _int(request.query_params.get("after"), whole[-2] if len(whole) > 1 else 0)
        upto = _int(request.query_params.get("upto"), newest)
        moved = await run_in_threadpool(data.migration, state, crm, object_type, name, after, upto)
        specs = {
            "now": charts.embedded(charts.sizes_bar(current, f"{name} now")),
            "trend": charts.embedded(
                charts.sizes_over_time(history, object_type, name, f"{name} over time")
            ),
        }
        choices = sorted(set(whole) | {after, upto} | {newest})
        found = data.latest_insights(listed, object_type)
        grid = None
        if found and name == "rfm" and found.get("rfm_grid"):
            grid = data.rfm_cells(found["rfm_grid"])
        if found and name == VALUE_MODEL and found.get("clv_bands"):
            title = "records by predicted 12-month CLV"
            specs["clv"] = charts.embedded(charts.clv_bands_bar(found["clv_bands"], title))
        if found and name == VALUE_MODEL and found.get("value_tiers"):
            title = "value tiers: share of records and of revenue"
            specs["tiers"] = charts.embedded(charts.tier_shares_bar(found["value_tiers"], title))
        profile = (found or {}).get("profiles", {}).get(name)
        return page(
            request, "model.html", session, title=name, crm_name=crm_name(crm),
            object_type=object_type, model=name, migration=moved, whole=choices, charts=specs,
            grid=grid, profile=profile, insights=found, sizes=current,
        )  # fmt: skip

    async def records(request: Request, session: Session) -> Response:
        crm = request.query_params.get("crm") or settings.crms[0]
        object_type = request.query_params.get("type") or "contact"
        wanted = (request.query_params.get("id") or "").strip()[:MAX_EMAIL]
        record_id, found, matches, problem = wanted, None, [], None
        if wanted and crm in settings.crms and "@" in wanted:
            # The mirror keeps an email's domain only: the CRM is asked who has it.
            try:
                matches = await run_in_threadpool(_by_email, settings, crm, wanted)
            except ValueError as exc:
                problem = str(exc)
            except Exception as exc:  # the CRM's failure (or its settings'), said on the page
                problem = f"the CRM could not be searched: {describe(exc, settings).message}"
            if len(matches) == 1:
                object_type, record_id = matches[0]
        if record_id and "@" not in record_id and crm in settings.crms:
            record_id = record_id[:64]
            found = await run_in_threadpool(
                data.record, state, crm, object_type, record_id, _book(settings)
            )
            if found["mirrored"] is None and not found["written"]:
                found = None
        return page(
            request, "record.html", session, title="Records", crms=settings.crms, crm=crm,
            types=["contact", "company", "deal", "lead"], object_type=object_type,
            wanted=wanted, record_id=record_id, found=found, matches=matches, problem=problem,
        )  # fmt: skip

    async def deadletters(request: Request, session: Session) -> Response:
        crm = request.query_params.get("crm") or settings.crms[0]
        letters = await run_in_threadpool(state.list_dead_letters, crm, limit=500)
        return page(
            request, "deadletters.html", session, title="Dead letters", crm=crm,
            crm_name=crm_name(crm), letters=letters,
        )  # fmt: skip

    async def retry(request: Request, session: Session) -> Response:
        crm = request.state.form.get("crm", "")
        if crm not in settings.crms:
            return JSONResponse({"error": f"unknown CRM {crm!r}"}, status_code=400)
        force = request.state.form.get("force") == "1"
        log.info(
            "console: dead-letter retry for %s (force=%s) asked by session %s…",
            crm,
            force,
            session.token[:6],
        )
        try:
            summary = await run_in_threadpool(_retry, settings, crm, force)
        except Exception as exc:  # the CRM's or the settings' failure, said on the page
            text = describe(exc, settings).message
            log.warning("console: dead-letter retry for %s failed: %s", crm, text)
            return RedirectResponse(f"/deadletters?crm={crm}&flash={quote('Failed: ' + text)}", 303)
        text = ", ".join(f"{k}: {v:,}" for k, v in summary.items())
        log.info("console: dead-letter retry for %s: %s", crm, text)
        return RedirectResponse(f"/deadletters?crm={crm}&flash={quote('Retried: ' + text)}", 303)

    async def preview(request: Request, session: Session) -> Response:
        found = previews.get(_int(request.query_params.get("id"), 0))
        context: dict[str, Any] = {"preview": found, "previews": previews.all()}
        if found is not None and found.status == "done":
            model = request.query_params.get("model", "")[:100]
            transition = request.query_params.get("transition", "")[:300]
            frame = found.rows(model or None, transition or None)
            rows, pages = page_of(frame, _int(request.query_params.get("page"), 1))
            context.update(
                models=found.models(), model=model, transition=transition, rows=rows,
                pages=pages, page=min(max(1, _int(request.query_params.get("page"), 1)), pages),
                total=frame.height, transitions=found.transitions(model) if model else [],
            )  # fmt: skip
        return page(request, "preview.html", session, title="Preview", crms=settings.crms,
                    **context)  # fmt: skip

    async def preview_start(request: Request, session: Session) -> Response:
        crm = request.state.form.get("crm", "")
        if crm not in settings.crms:
            return JSONResponse({"error": f"unknown CRM {crm!r}"}, status_code=400)
        started = previews.start(crm, request.state.form.get("full") == "1")
        log.info("console: dry run #%d of %s started", started.id, crm)
        return RedirectResponse(f"/preview?id={started.id}", status_code=303)

    async def preview_csv(request: Request, session: Session) -> Response:
        found = previews.get(_int(request.path_params["preview_id"], 0))
        if found is None or found.status != "done":
            return JSONResponse({"error": "no such finished preview"}, status_code=404)
        frame = found.rows(
            request.query_params.get("model") or None,
            request.query_params.get("transition") or None,
        )
        body = await run_in_threadpool(as_csv, frame)
        name = f"segsync-preview-{found.id}.csv"
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def playbook(request: Request, session: Session) -> Response:
        context = await run_in_threadpool(_playbook, settings)
        return page(request, "playbook.html", session, title="Playbook", **context)

    routes = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", needs_login(logout), methods=["POST"]),
        Route("/", needs_login(overview)),
        Route("/runs", needs_login(runs)),
        Route("/runs/{run_id}", needs_login(run)),
        Route("/models/{crm}/{object_type}/{model}", needs_login(model)),
        Route("/records", needs_login(records)),
        Route("/deadletters", needs_login(deadletters)),
        Route("/deadletters/retry", needs_login(retry), methods=["POST"]),
        Route("/playbook", needs_login(playbook)),
        Route("/preview", needs_login(preview)),
        Route("/preview/start", needs_login(preview_start), methods=["POST"]),
        Route("/preview/{preview_id}.csv", needs_login(preview_csv)),
        Mount("/static", app=_StaticGate(sessions, StaticFiles(directory=HERE / "static"))),
    ]
    return Starlette(routes=routes)


class _StaticGate:
    """The static files behind the login, but the stylesheet the login page needs."""

    def __init__(self, sessions: Sessions, files: StaticFiles) -> None:
        self.sessions = sessions
        self.files = files

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope)
        path = scope.get("path", "")
        if (
            not path.endswith("/console.css")
            and self.sessions.find(request.cookies.get(SESSION_COOKIE)) is None
        ):
            await JSONResponse({"error": "log in first"}, status_code=401)(scope, receive, send)
            return
        await self.files(scope, receive, send)


async def _form(request: Request) -> dict[str, str] | None:
    """A small urlencoded form, or None (too large, or not a form)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        return None
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    from urllib.parse import parse_qs

    try:
        parsed = parse_qs(body.decode(), max_num_fields=20, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    return {k: v[0] for k, v in parsed.items()}


def _token() -> str:
    import secrets

    return secrets.token_urlsafe(32)


def _set_cookie(
    response: Response, name: str, value: str, secure: bool, max_age: int | None = None
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="strict", secure=secure
    )


def _book(settings: Settings) -> Playbook | None:
    """The active playbook, or None when it does not load (the playbook page says why)."""
    try:
        return load_playbook(settings.playbook)
    except Exception:
        return None


def _by_email(settings: Settings, crm: str, email: str) -> list[tuple[str, str]]:
    """(object type, id) of the people in the CRM with this email address."""
    if len(email) > MAX_EMAIL or any(c.isspace() for c in email) or email.count("@") != 1:
        raise ValueError(f"not an email address: {email[:80]!r}")
    connector = build_connector(settings, crm)  # type: ignore[arg-type]
    if not isinstance(connector, FindsByEmail):
        raise ValueError(f"{crm_name(crm)} cannot be searched by email")
    kinds: tuple[ObjectType, ...] = ("contact", "lead") if crm == "salesforce" else ("contact",)
    return [(kind, i) for kind in kinds for i in connector.ids_by_email(kind, email)]


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _retry(settings: Settings, crm: str, force: bool) -> dict[str, int]:
    from workers.sync.runner import build_connector, retry_dead_letters

    connector = build_connector(settings, crm)  # type: ignore[arg-type]
    return retry_dead_letters(settings, connector, force=force)


def _playbook(settings: Settings) -> dict[str, Any]:
    from segmentation.playbook import parse_playbook
    from workers.sync.plan import playbook_source

    try:
        origin, source = playbook_source(settings.playbook)
        book = parse_playbook(source, source=origin)
    except Exception as exc:  # shown on the page: the admin is here to see it
        return {"name": settings.playbook, "valid": False, "verdict": str(exc), "problems": [],
                "models": [], "source": ""}  # fmt: skip
    models = [
        {
            "name": name,
            "description": m.description,
            "rules": [
                {"segment": r.segment, "when": json.dumps(r.when.model_dump(exclude_none=True))}
                for r in m.rules
            ],
            "fallback": m.fallback,
        }
        for name, m in book.models.items()
    ]
    return {
        "name": settings.playbook, "valid": True, "problems": [], "models": models,
        "verdict": f"valid: {len(models)} models", "source": source,
    }  # fmt: skip
