"""The one helper module of the tests: paths, and small help centers written into a folder.

`write_help_center` writes a fixed small help center (English sources, German translations);
`write_config`, `article_text` and `write` build one file by file for the content tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from kb.content.article import content_hash
from kb.content.problems import Problem

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"
SHARED_EVAL = ROOT.parent / "shared" / "eval"

KB_TOML = """
name = "Test Shop Help"
source_locale = "en"
locales = ["en", "de", "pl", "tr"]
base_url = "http://help.test"
popular = ["track-parcel", "cancel-order"]

[categories.orders]
title = { en = "Orders", de = "Bestellungen" }

[categories.payments]
title = { en = "Payments", de = "Zahlung" }

[categories.shipping]
title = { en = "Shipping", de = "Versand" }

[support.en]
channels = ["E-mail: help@shop.test"]
hours = "Mon-Fri 9-17"
timezone = "Europe/London"

[support.de]
channels = ["E-Mail: hilfe@shop.test"]
hours = "Mo-Fr 9-17 Uhr"
timezone = "Europe/Berlin"
"""

EN = {
    "cancel-order": ("orders", "How do I cancel my order?", ["Can I stop an order?"],
        "Open My account, select the order and press Cancel order. It is free until the order is packed.\n\n"
        "## After dispatch\n\nOnce shipped, an order cannot be cancelled; return it instead."),
    "refund-timing": ("orders", "When will I get my refund?", ["How long does a refund take?"],
        "We refund within 5 business days after your return arrives.\n\n"
        "## Card payments\n\nBanks need 3 to 5 more days to show the money on your card."),
    "pay-with-blik": ("payments", "How do I pay with BLIK?", ["BLIK code payment"],
        "Choose BLIK at checkout, open your banking app and enter the six-digit BLIK code. "
        "The code is valid for two minutes."),
    "track-parcel": ("shipping", "Where is my parcel?", ["Track my package"],
        "Use the tracking link in your shipping e-mail to follow your parcel with the carrier."),
}

DE = {
    "cancel-order": ("Wie storniere ich meine Bestellung?", ["Kann ich eine Bestellung abbrechen?"],
        "Öffnen Sie Mein Konto, wählen Sie die Bestellung und klicken Sie auf Bestellung stornieren. "
        "Das ist kostenlos, bis die Bestellung verpackt wird.\n\n## Nach dem Versand\n\n"
        "Nach dem Versand kann eine Bestellung nicht mehr storniert werden; senden Sie sie zurück."),
}


UPDATED = "2026-10-01"


def _translation_of(src_title: str, src_body: str, review: str) -> dict[str, str]:
    return {"source_locale": "en", "source_hash": content_hash(src_title, src_body + "\n"), "review": review}


def write_help_center(root: Path, *, machine_de: tuple[str, ...] = ()) -> Path:
    """English sources, a human German translation of cancel-order; optional German machine drafts."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "kb.toml").write_text(textwrap.dedent(KB_TOML))
    for aid, (cat, title, qs, body) in EN.items():
        path = root / "en" / cat / f"{aid}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article_text(aid, title, body + "\n", cat, UPDATED, qs))
    for aid, (title, qs, body) in DE.items():
        cat, src_title, _, src_body = EN[aid]
        path = root / "de" / cat / f"{aid}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article_text(aid, title, body + "\n", cat, UPDATED, qs,
                                     **_translation_of(src_title, src_body, "human")))
    for aid in machine_de:
        cat, src_title, qs, src_body = EN[aid]
        path = root / "de" / cat / f"{aid}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article_text(aid, f"Maschinell {src_title}", src_body + "\n", cat, UPDATED, qs,
                                     **_translation_of(src_title, src_body, "machine")))
    return root


# -- file by file ---------------------------------------------------------------------------------
CONFIG_TOML = """\
name = "Test Help Center"
source_locale = "en"
locales = {locales}
[categories.orders]
title = {{ en = "Orders", de = "Bestellungen" }}
[categories.returns]
title = {{ en = "Returns", de = "Rücksendungen" }}
"""


def write_config(root: Path, locales: tuple[str, ...] = ("en", "de", "de-AT", "fr")) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    listed = "[" + ", ".join(f'"{code}"' for code in locales) + "]"
    path = root / "kb.toml"
    path.write_text(CONFIG_TOML.format(locales=listed), encoding="utf-8")
    return path


def article_text(
    article_id: str,
    title: str,
    body: str,
    category: str = "orders",
    updated: str = "2026-01-15",
    questions: list[str] | None = None,
    **extra: str,
) -> str:
    """An article file: id, title, category, questions, updated, then any extra 'key: value' lines."""
    lines = ["---", f"id: {article_id}", f"title: {title}", f"category: {category}"]
    if questions is not None:
        lines += ["questions:", *(f"  - {q}" for q in questions)]
    lines.append(f"updated: {updated}")
    lines += [f"{key}: {value}" for key, value in extra.items()]
    lines.append("---")
    return "\n".join(lines) + "\n" + body


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def rel_path(problem: Problem, root: Path) -> str:
    """The problem's file relative to the help-center root, whatever form the checker printed."""
    return Path(problem.path).resolve().relative_to(root.resolve()).as_posix()


# -- the admin desk ---------------------------------------------------------------------------------
def form_value(html: str, name: str) -> str:
    """The value of the first hidden or text input called `name` in a page."""
    import re

    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert found, f"no input {name!r} in the page"
    return found.group(1)


def admin_sign_in(client: object, key: str, target: str = "/admin/") -> object:
    """Sign in to the desk through its form (a starlette TestClient); returns the POST's response."""
    page = client.get("/admin/sign-in", params={"next": target})  # type: ignore[attr-defined]
    return client.post("/admin/sign-in", data={"csrf": form_value(page.text, "csrf"), "key": key,  # type: ignore[attr-defined]
                                               "next": target}, follow_redirects=False)


# -- damaging an index, as a careless operator or a failing disk would ------------------------------
def _scribble(path: Path) -> None:
    """Random bytes over the middle half of the file, its size unchanged."""
    import random

    data = bytearray(path.read_bytes())
    lo, hi = len(data) // 4, len(data) * 3 // 4
    data[lo:hi] = random.Random(17).randbytes(hi - lo)
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _lines(path: Path, change: str) -> None:
    import random

    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if change == "shuffle":
        shuffled = list(lines)
        while shuffled == lines:
            random.Random(5).shuffle(shuffled)
        lines = shuffled
    else:  # drop 30 % of them
        lines = [line for i, line in enumerate(lines) if i % 10 >= 3]
    path.write_text("".join(lines), encoding="utf-8")


# kind -> (what it does to the live generation's folder or to index/CURRENT, the file a refusal names)
DAMAGE = {
    "scribble-faiss": (lambda gen: _scribble(gen / "dense.faiss"), "dense.faiss"),
    "scribble-vectors": (lambda gen: _scribble(gen / "vectors.npy"), "vectors.npy"),
    "shuffle-passages": (lambda gen: _lines(gen / "passages.jsonl", "shuffle"), "passages.jsonl"),
    "drop-passages": (lambda gen: _lines(gen / "passages.jsonl", "drop"), "passages.jsonl"),
    "truncate-faiss": (lambda gen: _truncate(gen / "dense.faiss"), "dense.faiss"),
    "truncate-vectors": (lambda gen: _truncate(gen / "vectors.npy"), "vectors.npy"),
    "truncate-articles": (lambda gen: _truncate(gen / "articles.jsonl"), "articles.jsonl"),
    "truncate-manifest": (lambda gen: _truncate(gen / "manifest.json"), "manifest.json"),
    "truncate-bm25": (lambda gen: _truncate(gen / "bm25-en" / "indices.csc.index.npy"), "bm25-en/indices.csc.index.npy"),
    "empty-current": (lambda gen: (gen.parent / "CURRENT").write_text(""), "CURRENT"),
    "dangling-current": (lambda gen: (gen.parent / "CURRENT").write_text("gen-20200101T000000-1-00000\n"), "CURRENT"),
}


def damage(generation: Path, kind: str) -> str:
    """Damage the generation folder `generation` (or its index/CURRENT) as DAMAGE[kind] says;
    returns the file a refusal must name."""
    change, file = DAMAGE[kind]
    change(generation)
    return file


# -- a real server for browser tests -----------------------------------------------------------------
def serving(app: object, port: int):  # type: ignore[no-untyped-def]
    """A context manager running `app` with uvicorn on 127.0.0.1:`port` in a thread, started
    before it yields and stopped after."""
    import threading
    import time
    from contextlib import contextmanager

    import uvicorn

    @contextmanager
    def run():  # type: ignore[no-untyped-def]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        try:
            yield
        finally:
            server.should_exit = True
            thread.join(timeout=10)

    return run()


# -- a help center in scripts with and without spaces ----------------------------------------------
SCRIPT_LOCALES = ("en", "ar", "zh", "th", "el", "hi", "ru")
SCRIPTS_TOML = """\
name = "Scripts Help Center"
source_locale = "en"
locales = ["en", "ar", "zh", "th", "el", "hi", "ru"]
[categories.returns]
title = { en = "Returns", ar = "الإرجاع", zh = "退货", th = "การคืนสินค้า", el = "Επιστροφές", hi = "वापसी", ru = "Возвраты" }
[categories.shipping]
title = { en = "Shipping" }
"""

# (category, title, body) per article id and locale
SCRIPT_ARTICLES: dict[str, dict[str, tuple[str, str]]] = {
    "return-items": {
        "en": ("How do I return items?", "You can return products within thirty days. Press the return button on the order page."),
        "ar": ("كيف أُرجع المنتجات؟", "يمكنك إرجاع المنتجات خلال ثلاثين يومًا. اضغط زر الإرجاع في صفحة الطلب."),
        "zh": ("如何退货？", "您可以在三十天内退货。请在订单页面点击退货按钮。"),
        "th": ("คืนสินค้าอย่างไร", "คุณสามารถคืนสินค้าได้ภายในสามสิบวัน กรุณากดปุ่มคืนสินค้าในหน้าคำสั่งซื้อ"),
        "el": ("Πώς επιστρέφω προϊόντα;", "Μπορείτε να επιστρέψετε τα προϊόντα μέσα σε τριάντα ημέρες. "
               "Πατήστε το κουμπί επιστροφής στη σελίδα της παραγγελίας."),
        "hi": ("मैं उत्पाद वापस कैसे करूँ?", "आप तीस दिनों के भीतर उत्पाद वापस कर सकते हैं। ऑर्डर पेज पर वापसी बटन दबाएँ।"),
        "ru": ("Как вернуть товары?", "Вы можете вернуть товары в течение тридцати дней. "
               "Нажмите кнопку возврата на странице заказа."),
    },
    "track-parcel": {
        "en": ("Where is my parcel?", "Open the tracking link in the shipping email to see where your parcel is."),
        "ar": ("أين طردي؟", "افتح رابط التتبع في رسالة الشحن لترى مكان طردك."),
        "zh": ("我的包裹在哪里？", "打开发货邮件中的物流链接，即可查看包裹的位置。"),
        "th": ("พัสดุของฉันอยู่ที่ไหน", "เปิดลิงก์ติดตามพัสดุในอีเมลแจ้งการจัดส่งเพื่อดูว่าพัสดุของคุณอยู่ที่ไหน"),
        "el": ("Πού είναι το δέμα μου;", "Ανοίξτε τον σύνδεσμο παρακολούθησης στο email αποστολής για να δείτε πού είναι το δέμα σας."),
        "hi": ("मेरा पार्सल कहाँ है?", "अपना पार्सल कहाँ है यह देखने के लिए शिपिंग ईमेल में ट्रैकिंग लिंक खोलें।"),
        "ru": ("Где моя посылка?", "Откройте ссылку для отслеживания в письме об отправке, чтобы увидеть, где ваша посылка."),
    },
}
SCRIPT_CATEGORY = {"return-items": "returns", "track-parcel": "shipping"}


def write_scripts_center(root: Path) -> Path:
    """Articles in scripts with and without spaces (issue 15, item 5): English sources translated by
    people into Arabic, Chinese, Thai, Greek, Hindi and Russian (written for these tests)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "kb.toml").write_text(SCRIPTS_TOML, encoding="utf-8")
    for aid, versions in SCRIPT_ARTICLES.items():
        cat = SCRIPT_CATEGORY[aid]
        src_title, src_body = versions["en"]
        for locale, (title, body) in versions.items():
            extra = {} if locale == "en" else {
                "source_locale": "en", "source_hash": content_hash(src_title, src_body + "\n"), "review": "human"}
            path = root / locale / cat / f"{aid}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(article_text(aid, f'"{title}"', body + "\n", cat, "2026-10-01", **extra), encoding="utf-8")
    return root
