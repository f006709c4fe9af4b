"""A synthetic help center of N articles × 7 locales, built from the sample articles in content/.

Each synthetic article takes one sample article that exists in all seven locales as its base,
keeps most of its sections (in a shuffled order), borrows one section from another article,
names a product line (in each locale's own words), gives every number a new value, and keeps
only a few of the base's questions. Every locale version is built from the same choices, so a
German synthetic article is a translation of the English one: it has `source_locale: en` and the
`source_hash` of the English text it goes with, and `kb check` accepts the whole folder.

    python benchmarks/synth.py OUT_DIR N
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kb.content.article import content_hash  # noqa: E402
from kb.content.library import Library  # noqa: E402
from kb.content.sections import split_sections  # noqa: E402

SAMPLE = ROOT / "content"
LOCALES = ("en", "de", "fr", "es", "it", "pl", "tr")

# product lines, one row per product: the name in each locale of LOCALES
PRODUCTS = [
    ("garden furniture", "Gartenmöbel", "mobilier de jardin", "muebles de jardín", "mobili da giardino", "meble ogrodowe", "bahçe mobilyası"),
    ("kitchen appliances", "Küchengeräte", "électroménager de cuisine", "electrodomésticos de cocina", "elettrodomestici da cucina", "sprzęt kuchenny", "mutfak aletleri"),
    ("children's toys", "Kinderspielzeug", "jouets pour enfants", "juguetes infantiles", "giocattoli per bambini", "zabawki dla dzieci", "çocuk oyuncakları"),
    ("running shoes", "Laufschuhe", "chaussures de course", "zapatillas de running", "scarpe da corsa", "buty do biegania", "koşu ayakkabıları"),
    ("bed linen", "Bettwäsche", "linge de lit", "ropa de cama", "biancheria da letto", "pościel", "nevresim takımları"),
    ("laptops", "Laptops", "ordinateurs portables", "portátiles", "computer portatili", "laptopy", "dizüstü bilgisayarlar"),
    ("coffee machines", "Kaffeemaschinen", "machines à café", "cafeteras", "macchine da caffè", "ekspresy do kawy", "kahve makineleri"),
    ("bicycles", "Fahrräder", "vélos", "bicicletas", "biciclette", "rowery", "bisikletler"),
    ("skincare products", "Hautpflegeprodukte", "produits de soin", "productos para el cuidado de la piel", "prodotti per la cura della pelle", "kosmetyki do pielęgnacji", "cilt bakım ürünleri"),
    ("camping gear", "Campingausrüstung", "matériel de camping", "equipo de acampada", "attrezzatura da campeggio", "sprzęt kempingowy", "kamp malzemeleri"),
    ("winter jackets", "Winterjacken", "vestes d'hiver", "chaquetas de invierno", "giacche invernali", "kurtki zimowe", "kışlık montlar"),
    ("garden tools", "Gartengeräte", "outils de jardin", "herramientas de jardín", "attrezzi da giardino", "narzędzia ogrodowe", "bahçe aletleri"),
]
# a sentence naming the product line, per locale
PRODUCT_LINE = {
    "en": "These steps also apply to {product} (product group {n}).",
    "de": "Diese Schritte gelten auch für {product} (Produktgruppe {n}).",
    "fr": "Ces étapes valent aussi pour : {product} (groupe de produits {n}).",
    "es": "Estos pasos también valen para: {product} (grupo de productos {n}).",
    "it": "Questi passaggi valgono anche per: {product} (gruppo di prodotti {n}).",
    "pl": "Te kroki dotyczą także kategorii: {product} (grupa produktów {n}).",
    "tr": "Bu adımlar {product} için de geçerlidir (ürün grubu {n}).",
}
EDIT_LINE = "\n\nUpdated: we now answer questions about this within one working day.\n"

_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]*)\)")
_NUMBER = re.compile(r"(?<![\w.])\d+(?![\w])")
_LIST_MARK = re.compile(r"^(\s*\d+\.\s)")


@dataclass
class _Base:
    id: str
    category: str
    versions: dict[str, tuple[str, str, list[str], list[tuple[str, int, str]]]]
    # locale -> (title, lead text, questions, [(heading, level, text)])


def _load_bases(sample: Path = SAMPLE) -> tuple[list[_Base], str]:
    library = Library.load(sample)
    bases = []
    for aid in library.ids():
        group = library.group(aid)
        if not all(loc in group for loc in LOCALES):
            continue
        versions = {}
        for loc in LOCALES:
            article = group[loc]
            sections = split_sections(article.body)
            lead = next((s.text for s in sections if not s.heading), "")
            rest = [(s.heading, s.level, s.text) for s in sections if s.heading]
            versions[loc] = (article.title, lead, list(article.meta.questions), rest)
        bases.append(_Base(aid, group["en"].category, versions))
    if not bases:
        raise SystemExit(f"synth: no article of {sample} exists in all of {', '.join(LOCALES)}")
    config = (sample / "kb.toml").read_text(encoding="utf-8")
    return bases, config


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def synthetic_id(bases: list[_Base], i: int) -> str:
    base = bases[i % len(bases)]
    return f"{base.id}-{_slug(PRODUCTS[i % len(PRODUCTS)][0])}-{i}"


def _vary_numbers(text: str, seed: int) -> str:
    def new(match: re.Match[str]) -> str:
        n = int(match.group(0))
        rng = random.Random(seed * 7919 + n)
        spread = max(2, n // 3)
        return str(max(1, n + rng.randint(-spread, spread)))

    out = []
    for line in text.split("\n"):
        mark = _LIST_MARK.match(line)
        head, tail = (mark.group(1), line[mark.end():]) if mark else ("", line)
        out.append(head + _NUMBER.sub(new, tail))
    return "\n".join(out)


def _fix_links(text: str, bases: list[_Base], n: int) -> str:
    """Internal links point at the synthetic article made from the linked sample article
    (when it exists), else become plain text; external links stay."""
    index = {b.id: j for j, b in enumerate(bases)}

    def repl(match: re.Match[str]) -> str:
        bang, label, target = match.groups()
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
            return match.group(0)
        stem = Path(target.partition("#")[0]).stem
        j = index.get(stem)
        if bang or j is None or j >= n:
            return label
        return f"[{label}](../{bases[j].category}/{synthetic_id(bases, j)}.md)"

    return _LINK.sub(repl, text)


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _front(meta: list[tuple[str, object]]) -> str:
    lines = ["---"]
    for key, value in meta:
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines += [f"  - {_q(v)}" for v in value]
        elif isinstance(value, str) and key not in ("updated", "source_locale", "review", "id", "category"):
            lines.append(f"{key}: {_q(value)}")
        else:
            lines.append(f"{key}: {value}")
    lines.append("---")
    return "\n".join(lines) + "\n"


def generate(out: Path | str, n: int, *, seed: int = 1, sample: Path = SAMPLE) -> dict[str, int]:
    """Write a help center of `n` articles × 7 locales into `out` (replaced). Returns counts."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    bases, config = _load_bases(sample)
    config = re.sub(r'^name = ".*"$', f'name = "Synthetic Help Center ({n} articles)"', config, count=1, flags=re.M)
    (out / "kb.toml").write_text(config, encoding="utf-8")
    files = 0
    for i in range(n):
        rng = random.Random(seed * 1_000_003 + i)
        base = bases[i % len(bases)]
        product = PRODUCTS[i % len(PRODUCTS)]
        donor = bases[(i % len(bases) + 1 + rng.randrange(len(bases) - 1)) % len(bases)] if len(bases) > 1 else base
        n_sections = len(base.versions["en"][3])
        keep = sorted(rng.sample(range(n_sections), k=max(1, math.ceil(n_sections * 0.7)))) if n_sections else []
        donor_sections = donor.versions["en"][3]
        borrowed = rng.randrange(len(donor_sections)) if donor_sections else None
        order: list[tuple[str, int]] = [("base", k) for k in keep]
        if borrowed is not None:
            order.insert(rng.randrange(len(order) + 1), ("donor", borrowed))
        group_no = rng.randint(10, 999)
        aid = synthetic_id(bases, i)
        texts: dict[str, tuple[str, str, list[str]]] = {}
        for li, loc in enumerate(LOCALES):
            title, lead, questions, sections = base.versions[loc]
            parts = [lead.strip(), PRODUCT_LINE[loc].format(product=product[li], n=group_no)]
            for source, k in order:
                heading, level, text = (sections[k] if source == "base" else donor.versions[loc][3][k])
                parts.append(f"{'#' * max(2, level)} {heading}\n\n{text.strip()}")
            body = _fix_links(_vary_numbers("\n\n".join(p for p in parts if p), seed * 31 + i), bases, n) + "\n"
            qrng = random.Random(seed * 17 + i * 101 + li)
            picked = qrng.sample(questions, k=min(3, len(questions))) if questions else []
            texts[loc] = (f"{title} ({product[li]})", body, picked)
        en_title, en_body, _ = texts["en"]
        source_hash = content_hash(en_title, en_body)
        for loc in LOCALES:
            title, body, questions = texts[loc]
            meta: list[tuple[str, object]] = [("id", aid), ("title", title), ("category", base.category),
                                              ("tags", [_slug(product[0]), base.category]),
                                              ("questions", questions), ("updated", "2026-09-01")]
            if loc != "en":
                meta += [("source_locale", "en"), ("source_hash", source_hash), ("review", "human")]
            path = out / loc / base.category / f"{aid}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_front(meta) + body, encoding="utf-8")
            files += 1
    return {"articles": n, "locales": len(LOCALES), "files": files}


def edit_article(root: Path | str, n: int = 0, *, sample: Path = SAMPLE) -> Path:
    """Append a sentence to the English version of synthetic article `n`: the edit an editor makes."""
    bases, _ = _load_bases(sample)
    path = Path(root) / "en" / bases[n % len(bases)].category / f"{synthetic_id(bases, n)}.md"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(EDIT_LINE)
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[1].isdigit():
        print("usage: python benchmarks/synth.py OUT_DIR N", file=sys.stderr)
        return 2
    counts = generate(Path(args[0]), int(args[1]))
    print(f"wrote {counts['files']} files ({counts['articles']} articles × {counts['locales']} locales) to {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
