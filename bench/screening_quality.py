"""Quality harness of the screening matcher (prints every figure against the issue's targets).

Usage: .venv/bin/python bench/screening_quality.py [--sample N] [--negatives N] [--seed S]

Builds a labelled evaluation set from the real OFAC SDN list in ../shared/data (listed
names altered the ways customer records differ, and realistic non-listed names in many
locales, some sharing a token with a listed name), then runs the public benchmarks in
../shared/data/benchmarks/. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
import sys
import time
import unicodedata
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from screening.lists.parsers import parse_list  # noqa: E402
from screening.lists.records import ListedEntity, ListedName  # noqa: E402
from screening.matching.engine import DEFAULT_THRESHOLD, Matcher  # noqa: E402
from screening.matching.normalize import normalize_name  # noqa: E402
from screening.matching.ofac import ofac_score  # noqa: E402
from screening.matching.tables import ORG_FORMS, VARIANTS  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SDN_DIR = DATA / "sanctions" / "ofac" / "sdn-csv-2021-07"
BENCH = DATA / "benchmarks"


def load_entities(path: Path = SDN_DIR) -> list[ListedEntity]:
    """The full SDN set with aliases (newest complete CSV set in ../shared/data)."""
    return list(parse_list("ofac-sdn", path).entities)


# ----------------------------------------------------------------------------- alterations

_CYR = [("SHCH", "Щ"), ("ZH", "Ж"), ("KH", "Х"), ("TS", "Ц"), ("CH", "Ч"), ("SH", "Ш"),
        ("YU", "Ю"), ("YA", "Я"), ("A", "А"), ("B", "Б"), ("V", "В"), ("G", "Г"), ("D", "Д"),
        ("E", "Е"), ("Z", "З"), ("I", "И"), ("Y", "Й"), ("K", "К"), ("L", "Л"), ("M", "М"),
        ("N", "Н"), ("O", "О"), ("P", "П"), ("R", "Р"), ("S", "С"), ("T", "Т"), ("U", "У"),
        ("F", "Ф"), ("C", "К"), ("H", "Х"), ("J", "Дж"), ("Q", "К"), ("W", "В"), ("X", "Кс")]
_ARAB = [("SH", "ش"), ("KH", "خ"), ("TH", "ث"), ("DH", "ذ"), ("GH", "غ"), ("B", "ب"),
         ("T", "ت"), ("J", "ج"), ("H", "ح"), ("D", "د"), ("R", "ر"), ("Z", "ز"), ("S", "س"),
         ("F", "ف"), ("Q", "ق"), ("K", "ك"), ("L", "ل"), ("M", "م"), ("N", "ن"), ("W", "و"),
         ("Y", "ي"), ("G", "ج"), ("P", "ب"), ("V", "ف"), ("C", "ك"), ("X", "كس")]
_ACCENTS = {"A": "Á", "E": "É", "I": "Í", "O": "Ö", "U": "Ü", "C": "Ç", "N": "Ñ", "S": "Š"}
_VARIANT_GROUPS: dict[str, list[str]] = defaultdict(list)
for _v, _c in VARIANTS.items():
    _VARIANT_GROUPS[_c].append(_v)


def _words(name: str) -> list[str]:
    return name.replace(",", " ").split()


def _natural(name: str) -> str:
    if name.count(",") == 1:
        last, first = name.split(",")
        return f"{first.strip()} {last.strip()}"
    return name


def _to_script(word: str, table: list[tuple[str, str]], abjad: bool) -> str:
    w = unicodedata.normalize("NFKD", word.upper())
    w = "".join(c for c in w if c.isalpha() and c.isascii())
    out = []
    i = 0
    while i < len(w):
        if abjad and w[i] in "AEIOUY":
            # abjads write initial, final and long vowels only
            last = i == len(w) - 1
            if i == 0:
                out.append("ا")
            elif w[i:i + 2] in ("II", "EE", "IY") or (last and w[i] in "IY"):
                out.append("ي")
                i += 1
            elif w[i:i + 2] in ("OU", "OO", "UU"):
                out.append("و")
                i += 1
            elif last and w[i] == "A":
                out.append("ا")
            elif w[i] == "Y":
                out.append("ي")
            i += 1
            continue
        for latin, target in table:
            if w.startswith(latin, i):
                out.append(target)
                i += len(latin)
                break
        else:
            i += 1
    return "".join(out)


def alter(kind: str, entity: ListedEntity, rng: random.Random) -> str | None:
    """One altered spelling of a listed name, or None when the kind does not apply."""
    primary = entity.primary_name
    natural = _natural(primary)
    words = _words(natural)
    long_idx = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if kind == "exact":
        return primary
    if kind == "typo":
        if not long_idx:
            return None
        i = rng.choice(long_idx)
        w = list(words[i])
        p = rng.randrange(1, len(w) - 1)
        op = rng.choice(["sub", "del", "swap", "ins"])
        if op == "sub":
            w[p] = rng.choice("AEIOUNRSTLMKH".replace(w[p].upper(), ""))
        elif op == "del":
            del w[p]
        elif op == "swap":
            w[p], w[p + 1] = w[p + 1], w[p]
        else:
            w.insert(p, rng.choice("AEIOURNST"))
        words[i] = "".join(w)
        return " ".join(words)
    if kind == "reorder":
        if len(words) < 2:
            return None
        shuffled = words[:]
        while shuffled == words:
            rng.shuffle(shuffled)
        return " ".join(shuffled)
    if kind == "dropped_middle":
        if entity.entity_type != "person" or len(words) < 3:
            return None
        i = rng.randrange(1, len(words) - 1)
        return " ".join(words[:i] + words[i + 1:])
    if kind == "diacritics":
        out = "".join(_ACCENTS.get(c, c) if c.upper() in _ACCENTS and rng.random() < 0.5
                      else c for c in natural.upper())
        return out if out != natural.upper() else None
    if kind == "org_suffix":
        if entity.entity_type != "organisation":
            return None
        ws = [w for w in words if w.upper().strip(".") not in ORG_FORMS]
        return " ".join(ws + [rng.choice(["LTD", "LLC", "S.A.", "GmbH", "Limited", "Inc."])])
    if kind == "alias":
        aliases = [n.name for n in entity.names if n.kind != "primary"]
        return rng.choice(aliases) if aliases else None
    if kind == "glued":
        if len(words) < 2:
            return None
        i = rng.randrange(0, len(words) - 1)
        return " ".join(words[:i] + [words[i] + words[i + 1]] + words[i + 2:])
    if kind == "transliteration":
        out = []
        changed = False
        for w in words:
            folded = w.upper()
            group = _VARIANT_GROUPS.get(VARIANTS.get(folded, ""), [])
            others = [g for g in group if g != folded]
            if others:
                out.append(rng.choice(others))
                changed = True
            else:
                out.append(w)
        if not changed:
            rules = [("OU", "U"), ("U", "OU"), ("Y", "I"), ("I", "Y"), ("KH", "H"), ("EE", "I"),
                     ("J", "DJ"), ("SS", "S"), ("PH", "F"), ("Q", "K")]
            rng.shuffle(rules)
            s = " ".join(words).upper()
            for a, b in rules:
                if a in s:
                    return s.replace(a, b, 1)
            return None
        return " ".join(out)
    if kind == "cyrillic":
        if entity.entity_type != "person":
            return None
        return " ".join(_to_script(w, _CYR, abjad=False) for w in words)
    if kind == "arabic":
        if entity.entity_type != "person":
            return None
        return " ".join(_to_script(w, _ARAB, abjad=True) for w in words)
    if kind == "punctuation_case":
        return "-".join(w.lower() for w in words) if len(words) > 1 else natural.lower() + "."
    raise ValueError(kind)


KINDS = ("exact", "typo", "reorder", "dropped_middle", "diacritics", "org_suffix", "alias",
         "glued", "transliteration", "cyrillic", "arabic", "punctuation_case")

# Realistic customer names, many locales (first names, last names).
LOCALES: dict[str, tuple[list[str], list[str]]] = {
    "en": ("James Mary Robert Patricia Michael Jennifer William Linda David Elizabeth Thomas "
           "Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty Mark Emily".split(),
           "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore "
           "Martin Jackson Thompson White Harris Clark Lewis Robinson Walker Young".split()),
    "de": ("Lukas Anna Jonas Lena Felix Hannah Maximilian Sophie Paul Marie Leon Mia Finn "
           "Laura Jan Katharina Tim Julia Niklas Lea".split(),
           "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch "
           "Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger".split()),
    "fr": ("Louis Camille Hugo Chloé Lucas Léa Jules Manon Arthur Inès Gabriel Zoé Raphaël "
           "Lina Adam Jade Nathan Clara".split(),
           "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon "
           "Laurent Lefebvre Michel Garcia David Bertrand Roux Vincent Fournier".split()),
    "es": ("Lucía Hugo Martina Mateo Sofía Pablo María Álvaro Julia Diego Paula Javier "
           "Carmen Adrián Elena Sergio Alba Iván".split(),
           "García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Martín "
           "Jiménez Ruiz Hernández Díaz Moreno Muñoz Álvarez Romero Alonso Gutiérrez".split()),
    "it": ("Francesco Giulia Alessandro Sofia Lorenzo Aurora Mattia Ginevra Leonardo Alice "
           "Riccardo Emma Tommaso Giorgia Edoardo".split(),
           "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno "
           "Gallo Conti De Luca Mancini Costa Giordano Rizzo Lombardi Moretti".split()),
    "pl": ("Jakub Zuzanna Kacper Julia Szymon Maja Filip Zofia Jan Hanna Antoni Lena".split(),
           "Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński "
           "Szymański Woźniak Dąbrowski Kozłowski".split()),
    "ru": ("Ivan Olga Pavel Natalia Artem Irina Maxim Elena Kirill Svetlana Nikita Tatiana "
           "Roman Anastasia".split(),
           "Ivanov Smirnov Kuznetsov Popov Vasiliev Petrov Sokolov Mikhailov Novikov Fedorov "
           "Morozov Volkov Alekseev Lebedev Semenov Egorov".split()),
    "ar": ("Omar Fatima Youssef Aisha Karim Layla Tariq Mariam Samir Nour Rami Huda Walid "
           "Salma Ziad Rania".split(),
           "Haddad Khoury Mansour Nasser Saleh Aziz Farouk Hamdan Sabbagh Karam Najjar "
           "Daher Shami Touma Bitar Azar".split()),
    "in": ("Aarav Priya Vivaan Ananya Aditya Diya Arjun Isha Rohan Kavya Rahul Sneha Vikram "
           "Pooja".split(),
           "Sharma Verma Gupta Patel Reddy Iyer Nair Mehta Joshi Desai Kulkarni Banerjee "
           "Chatterjee Malhotra".split()),
    "cn": ("Wei Fang Lei Jing Jun Li Ming Xiu Hao Yan Tao Hui".split(),
           "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun".split()),
    "tr": ("Mehmet Ayşe Mustafa Fatma Emre Zeynep Burak Elif Murat Merve".split(),
           "Yılmaz Kaya Demir Şahin Çelik Yıldız Yıldırım Öztürk Aydın Özdemir".split()),
    "pt": ("João Ana Pedro Beatriz Tiago Mariana Rafael Inês Gonçalo Carolina".split(),
           "Silva Santos Ferreira Pereira Oliveira Costa Rodrigues Martins Jesus Sousa".split()),
}

COMPANY_WORDS = ("Global Solutions Systems Partners Logistics Foods Software Capital Energy "
                 "Consulting Textiles Motors Pharma Analytics Design Holdings Ventures Media "
                 "Medical Retail Builders Farms Studio Labs").split()


def non_listed_names(entities: list[ListedEntity], rng: random.Random,
                     n: int) -> list[tuple[str, str]]:
    """(locale, name) pairs that no listed name fully contains (token-set check)."""
    listed_sets = []
    surnames: list[str] = []
    for e in entities:
        for nm in e.names:
            toks = frozenset(normalize_name(nm.name).primary.tokens) if normalize_name(
                nm.name).forms else frozenset()
            listed_sets.append(toks)
        if e.entity_type == "person" and "," in e.primary_name:
            surnames.append(e.primary_name.split(",")[0].strip().title())
    by_token: dict[str, list[frozenset]] = defaultdict(list)
    for s in listed_sets:
        for t in s:
            by_token[t].append(s)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(out) < n:
        r = rng.random()
        loc = rng.choice(list(LOCALES))
        firsts, lasts = LOCALES[loc]
        if r < 0.6:
            name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
            if rng.random() < 0.3:
                name = f"{rng.choice(firsts)} {name}"
        elif r < 0.8:
            loc = "shares-token"
            name = f"{rng.choice(firsts)} {rng.choice(surnames)}"
        else:
            loc = "company"
            name = (f"{rng.choice(lasts)} {rng.choice(COMPANY_WORDS)} "
                    f"{rng.choice(['Ltd', 'GmbH', 'LLC', 'S.A.', 'Inc.', 'SRL', 'AB'])}")
        if name in seen:
            continue
        nn = normalize_name(name)
        toks = frozenset(t for t, role in zip(nn.primary.tokens, nn.primary.roles,
                                              strict=True) if role != "o")
        if any(toks <= s for t in toks for s in by_token.get(t, ())):
            continue  # actually listed under this name: not a negative
        seen.add(name)
        out.append((loc, name))
    return out


# ----------------------------------------------------------------------------- metrics


def average_precision(scored: list[tuple[float, bool]]) -> float:
    scored = sorted(scored, key=lambda x: -x[0])
    hits = 0
    total = 0.0
    positives = sum(1 for _, y in scored if y)
    for k, (_, y) in enumerate(scored, 1):
        if y:
            hits += 1
            total += hits / k
    return total / positives if positives else 0.0


def best_f1(scored: list[tuple[float, bool]]) -> tuple[float, float]:
    positives = sum(1 for _, y in scored if y)
    best = (0.0, 0.0)
    for t in sorted({s for s, _ in scored}):
        tp = sum(1 for s, y in scored if s >= t and y)
        fp = sum(1 for s, y in scored if s >= t and not y)
        if tp == 0:
            continue
        p, r = tp / (tp + fp), tp / positives
        f1 = 2 * p * r / (p + r)
        if f1 > best[0]:
            best = (f1, t)
    return best


def pair_score(a: str, b: str, matcher_cache: dict) -> float:
    """Name score of `a` against a one-name list holding `b` (pairwise benchmarks)."""
    m = matcher_cache.get(b)
    if m is None:
        m = Matcher([ListedEntity("pair", "1", "unknown", (ListedName(b),))])
        matcher_cache[b] = m
    res = m.search(a, threshold=0.0)
    return res[0].name_score if res else 0.0


def mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sample", type=int, default=600, help="listed entities to alter")
    ap.add_argument("--non-listed", type=int, default=2000)
    ap.add_argument("--negatives", type=int, default=100_000,
                    help="rows of negatives_*.csv to screen (max 100,000)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    T = DEFAULT_THRESHOLD

    t0 = time.perf_counter()
    entities = load_entities()
    matcher = Matcher(entities)
    print(f"index: {matcher.index.stats()} built in {time.perf_counter() - t0:.1f}s "
          f"(includes parsing); default threshold {T}")

    # 1. altered listed names
    pos_of = {id(e): i for i, e in enumerate(matcher.index.entities)}
    sample = rng.sample(matcher.index.entities, min(args.sample, len(entities)))
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # n, hit, exh, ret
    misses: dict[str, list[str]] = defaultdict(list)
    for e in sample:
        for kind in KINDS:
            q = alter(kind, e, rng)
            if not q:
                continue
            res = matcher.search(q)
            hit = any(m.entity is e for m in res)
            stats = per_kind[kind]
            stats[0] += 1
            stats[1] += hit
            exhaustive = matcher.best_name_score(q, pos_of[id(e)]) >= T
            stats[2] += exhaustive
            stats[3] += exhaustive and hit
            if not hit and len(misses[kind]) < 3:
                misses[kind].append(f"{q!r} -> {e.primary_name!r}")
    print("\n== recall of the right entity on altered listed names (target >= 0.98)")
    tot = [0, 0, 0, 0]
    for kind in KINDS:
        n, hit, exh, ret = per_kind[kind]
        tot = [a + b for a, b in zip(tot, (n, hit, exh, ret), strict=True)]
        print(f"  {kind:18s} n={n:5d} recall={hit / max(n, 1):.3f}   "
              f"retrieval-stage recall={ret / max(exh, 1):.3f}"
              + (f"   e.g. {misses[kind][0]}" if misses[kind] else ""))
    recall = tot[1] / max(tot[0], 1)
    print(f"  {'ALL':18s} n={tot[0]:5d} recall={recall:.3f} {mark(recall >= 0.98)}   "
          f"retrieval-stage recall={tot[3] / max(tot[2], 1):.3f}")

    # 2. realistic non-listed names
    negs = non_listed_names(matcher.index.entities, rng, args.non_listed)
    by_loc: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    examples: list[str] = []
    for loc, name in negs:
        res = matcher.search(name)
        by_loc[loc][0] += 1
        by_loc[loc][1] += bool(res)
        if res and len(examples) < 5:
            examples.append(f"{name!r} ~ {res[0].matched_name!r} ({res[0].score:.0f})")
    fa = sum(v[1] for v in by_loc.values()) / max(len(negs), 1)
    print("\n== false-alert rate on realistic non-listed names (target <= 0.01)")
    for loc, (n, alerts) in sorted(by_loc.items()):
        print(f"  {loc:14s} n={n:5d} false-alert={alerts / n:.4f}")
    print(f"  {'ALL':14s} n={len(negs):5d} false-alert={fa:.4f} {mark(fa <= 0.01)}")
    for ex in examples:
        print(f"    e.g. {ex}")

    # 3. synthetic negatives (yente)
    print("\n== false-alert rate on negatives_*.csv (target <= 0.005)")
    all_alerts = all_n = 0
    per_file = max(1, args.negatives // 2)
    t1 = time.perf_counter()
    for fname in ("negatives_us.csv", "negatives_global.csv"):
        with open(BENCH / fname, encoding="utf-8") as fh:
            names = [row["full_name"] for row in itertools.islice(csv.DictReader(fh),
                                                                 per_file)]
        n = len(names)
        alerts = 0
        # the batch path (exactly `search` per name), a chunk at a time as the CLI does
        for lo in range(0, n, 2000):
            alerts += sum(bool(r) for r in matcher.search_many(
                [{"name": name} for name in names[lo:lo + 2000]]))
        all_alerts += alerts
        all_n += n
        print(f"  {fname:22s} n={n:6d} false-alert={alerts / max(n, 1):.4f}")
    rate = all_alerts / max(all_n, 1)
    print(f"  {'ALL':22s} n={all_n:6d} false-alert={rate:.4f} {mark(rate <= 0.005)} "
          f"({all_n / (time.perf_counter() - t1):.0f} names/s)")

    # 4. nomenklatura name bench
    cache: dict = {}
    scored = []
    with open(BENCH / "nomenklatura_name_bench_cases.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            s = pair_score(row["name1"], row["name2"], cache)
            scored.append((s, row["is_match"].strip().lower() == "true"))
    ap_ = average_precision(scored)
    f1, f1_t = best_f1(scored)
    print("\n== nomenklatura_name_bench_cases.csv (targets AP >= 0.90, best F1 >= 0.83; "
          "logic-v2: 0.881 / 0.803)")
    print(f"  pairs={len(scored)} average precision={ap_:.3f} {mark(ap_ >= 0.90)}   "
          f"best F1={f1:.3f} at score {f1_t:.1f} {mark(f1 >= 0.83)}")

    # 5. watchman cross-script pairs against the full index plus the expected names
    pairs = []
    with open(BENCH / "watchman_cross_script_pairs.csv", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            q, expected = line.split(",")[:2]
            pairs.append((q.strip(), expected.strip()))
    extra = [ListedEntity("watchman", f"w{i}", "person", (ListedName(exp),))
             for i, (_, exp) in enumerate(pairs)]
    cross = Matcher([*matcher.index.entities, *extra])
    found = 0
    missed = []
    for i, (q, _) in enumerate(pairs):
        res = cross.search(q)
        if any(m.entity.uid == f"w{i}" for m in res):
            found += 1
        else:
            missed.append(q)
    share = found / max(len(pairs), 1)
    print("\n== watchman_cross_script_pairs.csv, offline (target >= 0.90)")
    print(f"  matched {found}/{len(pairs)} = {share:.3f} {mark(share >= 0.90)}   "
          f"missed: {', '.join(missed) or '-'}")

    # 6. OFAC parity
    ok = n = 0
    worst = []
    with open(BENCH / "ofac_sls_scores.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            target = int(row["ofac_score"])
            ours = ofac_score(row["query_name"], row["result_name"])
            good = ours < 80 if target == -1 else abs(ours - target) <= 5
            ok += good
            n += 1
            if not good:
                worst.append((abs(ours - target), row["query_name"], row["result_name"],
                              target, ours))
    share = ok / max(n, 1)
    print("\n== OFAC parity on ofac_sls_scores.csv (target: within ±5 on >= 95%; "
          "-1 = below OFAC's 80 cut-off)")
    print(f"  {ok}/{n} = {share:.3f} {mark(share >= 0.95)}")
    for _, q, r, t, o in sorted(worst, reverse=True)[:5]:
        print(f"    off: {q!r} vs {r!r}: OFAC {t}, ours {o:.0f}")
    print(f"\ntotal time {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
