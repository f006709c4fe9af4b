"""The admin desk over HTTP (TestClient): signing in and out, CSRF, the limit on wrong keys, the
review queue, approving and editing, escaping, atomic writes and conflicts. Gaps and the report:
tests/web/test_admin_report.py; in Chromium: tests/web/test_admin_browser.py."""

from __future__ import annotations

import datetime as dt
import html
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import admin_sign_in, form_value

from kb.analytics.store import open_store
from kb.content.library import Library
from kb.search.engine import Engine
from kb.web.admin.session import SESSIONS_FILE, SessionStore
from kb.web.app import create_app
from kb.web.auth import write_key_file
from kb.web.security import SecurityConfig

pytestmark = pytest.mark.slow  # the small index is built with the real embedder

KEY = "desk-key-" + "k" * 30
REFUND_DE = "de/orders/refund-timing.md"  # a machine draft in the small help center
CANCEL_DE = "de/orders/cancel-order.md"  # a person's translation, up to date


@pytest.fixture(scope="module")
def engine(small_index: tuple[Path, Path]) -> Engine:
    return Engine(small_index[1])


@pytest.fixture
def desk(tmp_path: Path, small_index: tuple[Path, Path], engine: Engine,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Path]]:
    """A copy of the small help center behind the desk, the key set in KB_ADMIN_KEY: (client, content)."""
    monkeypatch.setenv("KB_ADMIN_KEY", KEY)
    monkeypatch.delenv("KB_ADMIN_KEY_FILE", raising=False)
    monkeypatch.delenv("KB_ADMIN_SESSION_HOURS", raising=False)
    monkeypatch.delenv("KB_ADMIN_FAILURES", raising=False)
    content = Path(shutil.copytree(small_index[0], tmp_path / "content"))
    store = open_store(tmp_path / "data")
    app = create_app(tmp_path / "data", engine=engine, store=store, content_dir=content,
                     security=SecurityConfig(rate=0), retention_days=None)
    with TestClient(app) as client:
        yield client, content
    store.close()


def _signed_in(client: TestClient) -> TestClient:
    assert admin_sign_in(client, KEY).status_code == 303
    return client


def _item(client: TestClient, locale: str = "de", aid: str = "refund-timing") -> str:
    page = client.get(f"/admin/review/{locale}/{aid}")
    assert page.status_code == 200, page.text
    return page.text


def _post(client: TestClient, page: str, action: str, locale: str = "de", aid: str = "refund-timing",
          **fields: str) -> object:
    data = {"csrf": form_value(page, "csrf"), "file_hash": form_value(page, "file_hash"), "action": action, **fields}
    return client.post(f"/admin/review/{locale}/{aid}", data=data, follow_redirects=False)


# -- signing in -----------------------------------------------------------------------------------
def test_pages_lead_to_the_sign_in_form_and_back(desk: tuple[TestClient, Path]) -> None:
    client, _ = desk
    first = client.get("/admin/review?state=stale", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/admin/sign-in?next=/admin/review%3Fstate%3Dstale"
    assert client.get("/admin/api/report/coverage").status_code == 401
    done = admin_sign_in(client, KEY, "/admin/review?state=stale")
    assert done.status_code == 303 and done.headers["location"] == "/admin/review?state=stale"
    assert "Review queue" in client.get("/admin/review").text
    elsewhere = admin_sign_in(TestClient(client.app), KEY, "https://evil.test/")
    assert elsewhere.headers["location"] == "/admin/"  # never off to another site


def test_session_cookie_flags(desk: tuple[TestClient, Path], tmp_path: Path) -> None:
    client, _ = desk
    done = admin_sign_in(client, KEY)
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("kb_admin="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert {"httponly", "samesite=strict", "path=/admin", f"max-age={8 * 3600}"} <= set(flags)
    assert "secure" not in flags  # plain HTTP: a Secure cookie would never come back
    token = cookie.split(";")[0].split("=", 1)[1]
    stored = (tmp_path / "data" / SESSIONS_FILE).read_text()
    assert token not in stored and len(json.loads(stored)) == 1  # only the token's hash is kept
    secure = TestClient(client.app, base_url="https://testserver")
    cookie = next(c for c in admin_sign_in(secure, KEY).headers.get_list("set-cookie") if c.startswith("kb_admin="))
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_sign_in_form_needs_its_csrf_token(desk: tuple[TestClient, Path]) -> None:
    client, _ = desk
    page = client.get("/admin/sign-in")
    refused = client.post("/admin/sign-in", data={"key": KEY, "csrf": "forged"}, follow_redirects=False)
    assert refused.status_code == 403 and "kb_admin=" not in refused.headers.get("set-cookie", "")
    other = TestClient(client.app)  # a token from one browser does not work with another's cookie
    assert other.post("/admin/sign-in", data={"key": KEY, "csrf": form_value(page.text, "csrf")},
                      follow_redirects=False).status_code == 403


def test_wrong_keys_are_limited_per_client(desk: tuple[TestClient, Path]) -> None:
    client, _ = desk
    for _ in range(10):  # KB_ADMIN_FAILURES: 10 a minute by default
        wrong = admin_sign_in(client, "not-the-key")
        assert wrong.status_code == 401 and "That is not an admin key." in wrong.text
    blocked = admin_sign_in(client, KEY)  # even the right key waits now
    assert blocked.status_code == 429 and 1 <= int(blocked.headers["retry-after"]) <= 6
    assert "too many wrong keys" in blocked.text
    assert client.get("/admin/review", follow_redirects=False).status_code == 303
    other = TestClient(client.app, client=("198.51.100.2", 1))  # another address has its own budget
    assert admin_sign_in(other, KEY).status_code == 303


def test_the_sign_in_form_and_the_admin_api_share_one_budget_of_wrong_keys(desk: tuple[TestClient, Path]) -> None:
    """Guessing through the form buys nothing the API does not allow, and the other way round."""
    client, _ = desk
    for i in range(6):
        assert client.get("/v1/admin/review", headers={"X-API-Key": f"guess-{i}"}).status_code == 403
    for _ in range(4):
        assert admin_sign_in(client, "not-the-key").status_code == 401
    assert admin_sign_in(client, KEY).status_code == 429
    assert client.get("/v1/admin/review", headers={"X-API-Key": KEY}).status_code == 429


def test_sessions_expire_and_survive_a_restart(tmp_path: Path) -> None:
    now = [1000.0]
    store = SessionStore(tmp_path, 60, clock=lambda: now[0])
    token, session = store.create("maria")
    assert SessionStore(tmp_path, 60, clock=lambda: now[0]).get(token) == session  # another process sees it
    assert store.get(token + "x") is None
    now[0] = 1061
    assert store.get(token) is None
    assert oct((tmp_path / SESSIONS_FILE).stat().st_mode & 0o777) == "0o600"


def test_sign_out_ends_the_session_on_the_server(desk: tuple[TestClient, Path]) -> None:
    client = _signed_in(desk[0])
    token = client.cookies.get("kb_admin")
    page = client.get("/admin/review")
    out = client.post("/admin/sign-out", data={"csrf": form_value(page.text, "csrf")}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/admin/sign-in?signed_out=1"
    replay = TestClient(client.app, cookies={"kb_admin": token})
    assert replay.get("/admin/review", follow_redirects=False).status_code == 303  # the old cookie is dead


def test_no_key_configured_means_the_desk_is_off(desk: tuple[TestClient, Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = desk
    monkeypatch.delenv("KB_ADMIN_KEY")
    assert "The desk is off" in client.get("/admin/sign-in").text
    assert admin_sign_in(client, KEY).status_code == 503


def test_a_hashed_key_file_signs_in_too(desk: tuple[TestClient, Path], monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    client, _ = desk
    monkeypatch.delenv("KB_ADMIN_KEY")
    write_key_file(tmp_path / "data" / "admin_key", "from-the-file-" + "f" * 20)
    assert admin_sign_in(client, "from-the-file-" + "f" * 20).status_code == 303


def test_each_editor_signs_in_with_a_named_key_and_approvals_record_the_name(
        desk: tuple[TestClient, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    client, content = desk
    monkeypatch.delenv("KB_ADMIN_KEY")
    keys = tmp_path / "data" / "admin_key"
    write_key_file(keys, "maria-key-" + "m" * 30, name="maria")
    write_key_file(keys, "jonas-key-" + "j" * 30, name="jonas")
    assert admin_sign_in(client, "nobody-" + "n" * 30).status_code != 303
    assert admin_sign_in(client, "jonas-key-" + "j" * 30).status_code == 303
    assert _post(client, _item(client), "approve").status_code == 303
    assert Library.load(content).get("refund-timing", "de").meta.reviewed_by == "jonas"


# -- CSRF on the desk's forms ---------------------------------------------------------------------
def test_forms_without_the_session_csrf_token_are_refused(desk: tuple[TestClient, Path]) -> None:
    client, content = desk
    _signed_in(client)
    before = (content / REFUND_DE).read_text()
    page = _item(client)
    for token in ("", "guess", html.unescape(form_value(page, "file_hash"))):
        sent = client.post("/admin/review/de/refund-timing", follow_redirects=False,
                           data={"csrf": token, "file_hash": form_value(page, "file_hash"), "action": "approve"})
        assert sent.status_code == 403 and "CSRF" in sent.text
    other = _signed_in(TestClient(client.app))  # another editor's token is not this session's
    assert _post(client, _item(other), "approve").status_code == 403
    assert (content / REFUND_DE).read_text() == before
    preview = client.post("/admin/api/preview", json={"markdown": "x"})
    assert preview.status_code == 403
    assert client.post("/admin/sign-out", data={"csrf": "guess"}).status_code == 403


# -- the queue and approving ----------------------------------------------------------------------
def test_queue_filters_by_locale_and_state(desk: tuple[TestClient, Path]) -> None:
    client, content = desk
    _signed_in(client)
    page = client.get("/admin/review").text
    assert "/admin/review/de/refund-timing" in page and "cancel-order" not in page
    assert "refund-timing" not in client.get("/admin/review?state=stale").text
    assert "refund-timing" in client.get("/admin/review?state=machine&locale=de").text
    assert "Nothing to review here" in client.get("/admin/review?locale=pl").text
    assert client.get("/admin/review?locale=xx").status_code == 422
    source = content / "en/orders/cancel-order.md"
    source.write_text(source.read_text() + "\nCancelling an order also cancels its invoice.\n")
    stale = client.get("/admin/review?state=stale").text
    assert "/admin/review/de/cancel-order" in stale and "refund-timing" not in stale
    item = _item(client, "de", "cancel-order")  # the diff from the copy the queue kept before the change
    assert '<span class="d-add">+Cancelling an order also cancels its invoice.</span>' in item


def test_approve_records_the_editor_and_the_source_hash(desk: tuple[TestClient, Path]) -> None:
    client, content = desk
    _signed_in(client)
    done = _post(client, _item(client), "approve")
    assert done.status_code == 303 and done.headers["location"] == "/admin/review/de/refund-timing?done=approved"
    library = Library.load(content)
    article, source = library.get("refund-timing", "de"), library.source("refund-timing")
    assert (article.review, article.meta.reviewed_by, article.meta.reviewed_on) == ("reviewed", "admin", dt.date.today())
    assert article.meta.source_hash == source.hash and not library.is_stale(article)
    assert "refund-timing" not in client.get("/admin/review").text


def test_send_back_to_machine_draft(desk: tuple[TestClient, Path]) -> None:
    client, content = desk
    _signed_in(client)
    assert _post(client, _item(client, "de", "cancel-order"), "machine", aid="cancel-order").status_code == 303
    assert Library.load(content).get("cancel-order", "de").review == "machine"
    assert "/admin/review/de/cancel-order" in client.get("/admin/review?state=machine").text


# -- editing ----------------------------------------------------------------------------------------
def test_edit_and_approve_writes_the_file(desk: tuple[TestClient, Path]) -> None:
    client, content = desk
    _signed_in(client)
    body = "Wir erstatten innerhalb von 5 Werktagen.\n\n## Kartenzahlung\n\nBanken brauchen 3 bis 5 Tage."
    done = _post(client, _item(client), "approve", title="Wann bekomme ich mein Geld zurück?",
                 questions="Wie lange dauert eine Erstattung?\r\nWann kommt mein Geld?", body=body.replace("\n", "\r\n"))
    assert done.status_code == 303
    text = (content / REFUND_DE).read_text()
    assert text.endswith("---\n" + body + "\n") and "\r" not in text
    assert "questions:\n  - Wie lange dauert eine Erstattung?\n  - Wann kommt mein Geld?\n" in text
    article = Library.load(content).get("refund-timing", "de")
    assert (article.title, article.review, article.meta.updated) == ("Wann bekomme ich mein Geld zurück?", "reviewed",
                                                                      dt.date.today())
    assert "source_locale: en" in text  # the other fields stay


def test_an_invalid_edit_is_not_written(desk: tuple[TestClient, Path]) -> None:
    client, content = desk
    _signed_in(client)
    before = (content / REFUND_DE).read_text()
    refused = _post(client, _item(client), "save", title="", questions="", body="Text")
    assert refused.status_code == 422 and "Not saved: title" in refused.text
    assert (content / REFUND_DE).read_text() == before


def test_everything_an_editor_types_is_escaped(desk: tuple[TestClient, Path]) -> None:
    client, content = desk
    _signed_in(client)
    title = 'Erstattung <script>alert("title")</script>'
    body = 'Text <script>alert("body")</script> <img src=x onerror=alert(1)> **fett**'
    assert _post(client, _item(client), "save", title=title, questions="<b>q</b>", body=body).status_code == 303
    assert "<script>alert" in (content / REFUND_DE).read_text()  # the file keeps what the editor wrote
    for page in (_item(client), client.get("/admin/review").text, client.get("/admin/").text):
        assert "<script>alert" not in page and "onerror" not in page.replace("onerror=alert(1)&gt;", "")
    item = _item(client)
    assert "Erstattung &lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in item
    assert "<strong>fett</strong>" in item  # Markdown still renders
    preview = client.post("/admin/api/preview", json={"markdown": body},
                          headers={"X-CSRF-Token": form_value(item, "csrf")})
    assert preview.status_code == 200 and "<script" not in preview.json()["html"]
    assert "onerror" not in preview.json()["html"] and "<strong>fett</strong>" in preview.json()["html"]


def test_a_failed_write_leaves_the_file_whole(desk: tuple[TestClient, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    client, content = desk
    _signed_in(client)
    before = (content / REFUND_DE).read_text()
    page = _item(client)

    def broken(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("kb.translate.sources.os.replace", broken)
    assert _post(client, page, "save", title="Neu", questions="", body="Neuer Text").status_code == 500
    assert (content / REFUND_DE).read_text() == before
    assert sorted(p.name for p in (content / "de/orders").iterdir()) == ["cancel-order.md", "refund-timing.md"]


def test_a_file_changed_since_it_was_opened_is_a_conflict(desk: tuple[TestClient, Path]) -> None:
    client, content = desk
    _signed_in(client)
    page = _item(client)
    path = content / REFUND_DE
    theirs = path.read_text().replace("5 business days", "7 business days")
    path.write_text(theirs)
    conflict = _post(client, page, "approve", title="Meine Fassung", questions="", body="Mein Text")
    assert conflict.status_code == 409 and path.read_text() == theirs  # nothing overwritten, not approved
    assert "7 business days" in conflict.text and "Mein Text" in conflict.text  # both versions shown
    assert _post(client, page, "approve").status_code == 409  # approving unseen text is refused too
    again = _post(client, conflict.text, "approve", title=html.unescape(form_value(conflict.text, "title")),
                  questions="", body=html.unescape(form_value(conflict.text, "body")))
    assert again.status_code == 303  # "replace it with mine" carries the new hash
    assert "Mein Text" in path.read_text() and Library.load(content).get("refund-timing", "de").review == "reviewed"


def test_article_sized_forms_pass_the_body_limit(desk: tuple[TestClient, Path]) -> None:
    client, content = desk
    _signed_in(client)
    body = "Größe " * 6000  # ~36 KB of UTF-8, ~100 KB percent-encoded: over the API's 16 KiB
    assert _post(client, _item(client), "save", title="Groß", questions="", body=body).status_code == 303
    assert body.strip() in (content / REFUND_DE).read_text()
    assert client.post("/v1/feedback", content=b"{" + b" " * 20_000 + b"}",
                       headers={"content-type": "application/json"}).status_code == 413


def test_suggested_questions_are_listed_and_decided_under_the_editors_name(desk: tuple[TestClient, Path],
                                                                           tmp_path: Path) -> None:
    import uuid

    from kb.content.learned import load_learned

    client, content = desk
    _signed_in(client)
    assert "No suggestions in this window" in client.get("/admin/questions").text
    store = open_store(tmp_path / "data")
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    for n in range(3):
        sid = uuid.uuid4().hex
        store.log_query(endpoint="search", locale="en", query="six digit code from my banking app <script>",
                        decision="answer", confidence=0.6, top_ids=["pay-with-blik"], top_scores=[0.7],
                        served_machine=False, served_fallback=False, generation="g", search_id=sid,
                        tracks_clicks=True, client=f"shopper-{n}", at=at + dt.timedelta(minutes=n))
        assert store.record_click(sid, "pay-with-blik")
    store.close()
    page = client.get("/admin/questions").text
    assert "six digit code from my banking app &lt;script&gt;" in page and "<script>" not in page.split("<main")[1]
    assert "(accepted by the automatic rule)" in page  # 3 shoppers, all found this article
    sid = form_value(page, "id")
    refused = client.post("/admin/questions", data={"id": sid, "action": "accept"})
    assert refused.status_code == 403
    unknown = client.post("/admin/questions", data={"csrf": form_value(page, "csrf"), "id": "0" * 8, "action": "accept"})
    assert unknown.status_code == 404
    done = client.post("/admin/questions", data={"csrf": form_value(page, "csrf"), "id": sid, "action": "accept"})
    assert done.status_code == 200 and "Accepted" in done.text and "No suggestions in this window" in done.text
    (entry,) = load_learned(content)
    assert (entry.article, entry.locale, entry.status, entry.clients) == ("pay-with-blik", "en", "accepted", 3)
    assert entry.question == "six digit code from my banking app <script>" and entry.by
