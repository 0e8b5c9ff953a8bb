"""Pages for people: login by token, search, certificate with its proof, batch, rack view.

The language comes from Accept-Language (or ?lang=) per request: it is set for the thread
that renders, so `_()` in templates and in ledger.reports speak it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from appliance import i18n, words
from ledger.reports import qc_summary, status_label, to_csv, to_pdf
from ledger.store import SESSION_SECONDS, Ledger, NotFound
from ledger.web import session

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
COOKIE = "ardoise_token"
TERMINAL = ("erased", "unverified", "failed", "refused", "incomplete")

router = APIRouter(include_in_schema=False)
env = Environment(loader=FileSystemLoader(WEB_DIR / "templates"),
                  autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
env.globals.update(_=i18n._, ngettext=i18n.ngettext, format_size=i18n.format_size,
                   format_number=i18n.format_number, status_label=status_label, quote=quote,
                   level_word=words.level_word, technique_word=words.technique_word,
                   verify_mode_word=words.verify_mode_word,
                   verify_result_word=words.verify_result_word,
                   status_count_word=words.status_count_word, step_word=words.step_word,
                   percent=words.percent)


def issued(value: str) -> str:
    """An RFC 3339 time from a record, in the reader's words ("18 nov. 2026, 21 h 21 UTC")."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return str(value)
    return i18n.format_datetime(when.astimezone(UTC)) + " UTC"


env.globals["issued"] = issued


def language(request: Request) -> str:
    wanted = request.query_params.get("lang")
    if not wanted:
        for part in request.headers.get("accept-language", "").split(","):
            lang = i18n.normalise_language(part.split(";")[0].strip())
            if lang:
                wanted = lang
                break
    return i18n.set_language(wanted, default_for_thread=True)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    locale = language(request)
    html = env.get_template(template).render(request=request, lang=locale.split("_")[0],
                                         path=request.url.path, **context)
    return HTMLResponse(html, status_code=status, headers=session.HEADERS)


def ledger_of(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


def signed_in(request: Request) -> bool:
    return ledger_of(request).token_kind(request.cookies.get(COOKIE)) in ("admin", "session")


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)


def safe_next(value: str) -> str:
    return value if value.startswith("/") and not value.startswith("//") else "/"


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=safe_next(next), error=False)


@router.post("/login")
def login(request: Request, token: Annotated[str, Form(max_length=200)],
          next: Annotated[str, Form(max_length=500)] = "/") -> Response:
    refused = session.refuse_cross_site(request) or session.throttled(request)
    if refused is not None:
        return refused
    ledger = ledger_of(request)
    if ledger.token_kind(token.strip()) != "admin":
        session.failed_login(request)
        return render(request, "login.html", status=401, next=safe_next(next), error=True)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(COOKIE, ledger.create_token("session", "web login"), httponly=True,
                        samesite="strict", secure=request.url.scheme == "https",
                        max_age=SESSION_SECONDS)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    refused = session.refuse_cross_site(request)
    if refused is not None:
        return refused
    raw = request.cookies.get(COOKIE)
    ledger = ledger_of(request)
    if raw and ledger.token_kind(raw) == "session":
        ledger.revoke_token(raw)  # the session ends on the server too, not only the cookie
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/")
def search_page(request: Request, q: Annotated[str, Query(max_length=200)] = "",
                page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    if not signed_in(request):
        return to_login(request)
    q = q.strip().replace("\x00", "")
    ledger = ledger_of(request)
    result = ledger.search(query=q, page=page, per_page=50) if q else None
    recent = None if q else ledger.search(page=1, per_page=15)
    return render(request, "search.html", q=q, result=result, recent=recent,
                  head=ledger.latest_head())


@router.get("/certificates/{certificate_id}")
def certificate_page(request: Request, certificate_id: str) -> Response:
    if not signed_in(request):
        return to_login(request)
    ledger = ledger_of(request)
    try:
        row = ledger.get(certificate_id.replace("\x00", ""))
    except NotFound:
        return render(request, "notfound.html", status=404, what=certificate_id)
    head = ledger.latest_head()
    ledger.ensure_tree(head.tree_size)
    path = ledger.tree.inclusion_proof(row.leaf_index, head.tree_size)
    doc = orjson.loads(row.entry)
    appliance = {a.key_id: a for a in ledger.appliances()}.get(row.key_id)
    return render(request, "certificate.html", row=row, doc=doc, head=head,
                  head_time=datetime.fromtimestamp(head.timestamp / 1000, UTC),
                  audit_path=[h.hex() for h in path], appliance=appliance,
                  log_key_id=ledger.log_key.key_id,
                  raw=orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode("utf-8"),
                  format_datetime=i18n.format_datetime)


def _group_page(request: Request, kind: str, name: str) -> Response:
    if not signed_in(request):
        return to_login(request)
    ledger = ledger_of(request)
    name = name.replace("\x00", "")
    kwargs = {kind: name}
    counts = ledger.status_counts(**kwargs)
    rows = ledger.report_rows(**kwargs)
    qc = _qc(request, kind, name)
    language(request)  # the sentence below is made before render() sets it
    return render(request, "batch.html", kind=kind, name=name, counts=counts, rows=rows,
                  total=sum(counts.values()), qc=qc,
                  qc_text=qc_summary(qc) if qc is not None and qc.sanitized else "")


def _qc(request: Request, kind: str, name: str) -> Any:
    """The batch's quality control (its sample drawn on first look), None for a donor."""
    if kind != "batch":
        return None
    from ledger.api.qc_routes import qc_of

    return qc_of(request).status(name)


def _report(request: Request, kind: str, name: str, fmt: str) -> Response:
    if not signed_in(request):
        return to_login(request)
    language(request)
    ledger = ledger_of(request)
    name = name.replace("\x00", "")
    rows = ledger.report_rows(**{kind: name})
    filename = f"ardoise-{kind}-{quote(name, safe='')}.{fmt}"
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"}
    if fmt == "csv":
        return Response(to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
    if kind == "batch":
        title = i18n._("Erasure report — batch {name}").format(name=name)
    else:
        title = i18n._("Erasure report — donor {name}").format(name=name)
    subject = i18n._("Every disk recorded in the ledger for this {what}.").format(
        what=i18n._("batch") if kind == "batch" else i18n._("donor"))
    base = str(request.base_url).rstrip("/")
    pdf = to_pdf(rows, title=title, subject=subject, head=ledger.latest_head(),
                 ledger_url=base + "/certificates/", qc=_qc(request, kind, name))
    return Response(pdf, media_type="application/pdf", headers=headers)


# A batch or donor name may hold "/" (its %2F arrives decoded): the names are path
# parameters, and the report routes come first so a name ending in /report.csv still works.
@router.get("/batches/{batch:path}/report.{fmt}")
def batch_report(request: Request, batch: str, fmt: str) -> Response:
    if fmt not in ("csv", "pdf"):
        return Response(status_code=404)
    return _report(request, "batch", batch, fmt)


@router.get("/donors/{donor:path}/report.{fmt}")
def donor_report(request: Request, donor: str, fmt: str) -> Response:
    if fmt not in ("csv", "pdf"):
        return Response(status_code=404)
    return _report(request, "donor", donor, fmt)


@router.get("/batches/{batch:path}")
def batch_page(request: Request, batch: str) -> Response:
    return _group_page(request, "batch", batch)


@router.get("/donors/{donor:path}")
def donor_page(request: Request, donor: str) -> Response:
    return _group_page(request, "donor", donor)


def _number(value: Any, low: float = 0.0, high: float | None = None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    value = max(float(value), low)
    return min(value, high) if high is not None else value


def job_view(job: dict[str, Any]) -> dict[str, Any]:
    """A stored job as the rack page shows it: every field present and of its type, so the
    page renders whatever a row holds (rows stored before heartbeats were validated too)."""
    view: dict[str, Any] = {key: str(job.get(key) or "")[:300] for key in
            ("disk_id", "model", "serial", "step", "method", "status")}
    view["progress"] = _number(job.get("progress"), 0.0, 1.0) or 0.0
    view["rate"] = _number(job.get("rate"))
    view["eta"] = _number(job.get("eta"))
    size = job.get("size_bytes")
    view["size_bytes"] = size if isinstance(size, int) and not isinstance(size, bool) else None
    return view


def rack_rows(ledger: Ledger, batch: str, lost_after: float) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    machines = []
    for m in ledger.machines(batch):
        seen = m.last_seen if m.last_seen.tzinfo else m.last_seen.replace(tzinfo=UTC)
        age = max(0.0, (now - seen).total_seconds())
        lost = age > lost_after
        try:
            stored = orjson.loads(m.jobs)
        except orjson.JSONDecodeError:
            stored = []
        jobs = [job_view(j) for j in stored if isinstance(j, dict)] if isinstance(
            stored, list) else []
        for job in jobs:
            job["lost"] = lost and job.get("status") not in TERMINAL
        running = [j for j in jobs if j.get("status") not in TERMINAL]
        if any(j["lost"] for j in jobs):
            state = "lost"
        elif running:
            state = "running"
        elif jobs and all(j.get("status") == "erased" for j in jobs):
            state = "done"
        elif jobs:
            state = "attention"
        else:
            state = "idle"
        machines.append({"m": m, "age": age, "lost": lost, "jobs": jobs, "state": state})
    return machines


@router.get("/rack")
def rack_page(request: Request, batch: Annotated[str, Query(max_length=200)] = "") -> Response:
    if not signed_in(request):
        return to_login(request)
    ledger = ledger_of(request)
    batch = batch.replace("\x00", "")
    machines = rack_rows(ledger, batch, request.app.state.lost_after)
    batches = sorted({m.batch for m in ledger.machines() if m.batch})
    return render(request, "rack.html", machines=machines, batch=batch, batches=batches,
                  lost_after=request.app.state.lost_after)
