#!/usr/bin/env python3
"""Checks the interview story-bank sets: data/evalsets/*/stories/{questions.md,truth.json}.

For every set:
  1. each truth `question`, normalised (lower case, every character outside [a-z0-9 ] made a
     space, spaces collapsed), equals or is contained in the normalised line of a question
     that questions.md holds (table first column, top-level list or task item — read the way
     `src/tasks/stories.rs::parse_questions` reads it);
  2. every path in `best` / `acceptable` is a file under that set's vault/.
Also: every `[[#heading]]` link in questions.md names a heading of the file, every `[[note]]`
link names a vault note, and a note linked on a question's line is among that question's
`best`/`acceptable`; the entry has its fields with the right types; `none` entries have no paths and other
entries have 1-2 `best`; no path is in both lists; every question of the file has exactly one
truth entry and no two entries share a question.

Standard library only. Run from anywhere: python3 data/evalsets/check_stories_truth.py [EVALSETS_DIR]
(default: the folder this script is in; data/heldout holds the sets kept out of every fit).
Exit status 0 when every set passes, 1 otherwise.
"""

import json
import re
import sys
from pathlib import Path

EVALSETS = Path(__file__).resolve().parent

WIKILINK = re.compile(r"\[\[([^\]|]*)(?:\|[^\]]*)?\]\]")
LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,3}[.)])\s+(?:\[[ xX]\]\s+)?(.*)$")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def normalise(text):
    text = re.sub(r"[^a-z0-9 ]", " ", text.lower())
    return " ".join(text.split())


def is_table_separator(line):
    t = line.strip()
    return t.startswith("|") and all(c in "|-: " for c in t)


def clean(text):
    text = WIKILINK.sub("", text)
    text = text.replace("**", "").replace("__", "").replace("`", "")
    return " ".join(text.split())


def parse_questions(text):
    """(question, 1-based line, raw line) for each question of a questions file."""
    lines = text.splitlines()
    out = []
    in_code = False
    in_front_matter = False
    for i, raw in enumerate(lines):
        line = raw.rstrip()
        if i == 0 and line == "---":
            in_front_matter = True
            continue
        if in_front_matter:
            in_front_matter = line not in ("---", "...")
            continue
        if line.lstrip().startswith("```") or line.lstrip().startswith("~~~"):
            in_code = not in_code
            continue
        if in_code:
            continue
        question = None
        if line.lstrip().startswith("|"):
            is_header = i + 1 < len(lines) and is_table_separator(lines[i + 1])
            if is_header or is_table_separator(line):
                continue
            cells = line.strip().strip("|").split("|")
            question = clean(cells[0]) if cells else None
        elif line[:1].isspace():
            continue  # nested items are notes under a question
        else:
            m = LIST_ITEM.match(line)
            if m:
                question = clean(m.group(1))
        if question and sum(c.isalnum() for c in question) >= 3:
            out.append((question, i + 1, line))
    return out


def check_set(set_dir):
    errors = []
    stories = set_dir / "stories"
    vault = set_dir / "vault"
    qpath = stories / "questions.md"
    tpath = stories / "truth.json"
    if not qpath.is_file():
        return [f"missing {qpath}"], 0, 0
    try:
        truth = json.loads(tpath.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        return [f"cannot read {tpath}: {e}"], 0, 0
    if not isinstance(truth, list):
        return [f"{tpath}: top level is not a list"], 0, 0

    questions = parse_questions(qpath.read_text(encoding="utf-8"))
    # normalised forms of each question's text and of its whole line
    qtext = qpath.read_text(encoding="utf-8")
    qnorm = [(normalise(q), normalise(raw), ln, q) for q, ln, raw in questions]
    matched_lines = {}
    headings = {" ".join(m.group(1).split()).lower()
                for m in map(HEADING.match, qtext.splitlines()) if m}
    notes = {}
    for f in vault.rglob("*.md"):
        rel = f.relative_to(vault).as_posix()
        notes.setdefault(f.stem.lower(), set()).add(rel)
        notes.setdefault(rel[:-3].lower(), set()).add(rel)
    links_by_line = {}
    for ln, raw in enumerate(qtext.splitlines(), 1):
        for m in WIKILINK.finditer(raw):
            link = m.group(1).strip()
            if link.startswith("#"):
                if " ".join(link[1:].split()).lower() not in headings:
                    errors.append(f"questions.md line {ln}: no heading for [[{link}]]")
            elif link:
                target = notes.get(link.split("#")[0].strip().lower())
                if not target:
                    errors.append(f"questions.md line {ln}: [[{link}]] names no vault note")
                else:
                    links_by_line.setdefault(ln, set()).update(target)

    for n, entry in enumerate(truth):
        where = f"entry {n}"
        if not isinstance(entry, dict):
            errors.append(f"{where}: not an object")
            continue
        q = entry.get("question")
        where = f"entry {n} ({q!r})"
        if not isinstance(q, str) or not q.strip():
            errors.append(f"{where}: question missing or empty")
            continue
        for key, typ in (("best", list), ("acceptable", list), ("none", bool), ("why", str)):
            if not isinstance(entry.get(key), typ):
                errors.append(f"{where}: '{key}' missing or not a {typ.__name__}")
        best = entry.get("best") if isinstance(entry.get("best"), list) else []
        acceptable = entry.get("acceptable") if isinstance(entry.get("acceptable"), list) else []

        # requirement 1: the question is in questions.md
        nq = normalise(q)
        hits = [ln for qn, rawn, ln, _ in qnorm if nq and (nq == qn or nq in qn or nq in rawn)]
        if not hits:
            errors.append(f"{where}: not found among the questions of questions.md")
        elif len(hits) > 1:
            errors.append(f"{where}: matches several question lines {hits}")
        else:
            matched_lines.setdefault(hits[0], []).append(n)
            labelled = set(best) | set(acceptable)
            for linked in sorted(links_by_line.get(hits[0], ())):
                if linked not in labelled:
                    errors.append(f"{where}: questions.md links {linked} but truth does not list it")

        # requirement 2: every path exists under vault/
        for key, paths in (("best", best), ("acceptable", acceptable)):
            for p in paths:
                if not isinstance(p, str) or not p:
                    errors.append(f"{where}: {key} holds a non-string or empty path")
                    continue
                full = (vault / p).resolve()
                if vault.resolve() not in full.parents or not full.is_file():
                    errors.append(f"{where}: {key} path not in vault: {p}")
        if set(best) & set(acceptable):
            errors.append(f"{where}: in both best and acceptable: {sorted(set(best) & set(acceptable))}")
        if len(set(best)) != len(best) or len(set(acceptable)) != len(acceptable):
            errors.append(f"{where}: a path is listed twice")
        if entry.get("none") is True and (best or acceptable):
            errors.append(f"{where}: none is true but paths are listed")
        if entry.get("none") is False and not 1 <= len(best) <= 2:
            errors.append(f"{where}: needs 1-2 best paths, has {len(best)}")

    for ln, entries in matched_lines.items():
        if len(entries) > 1:
            errors.append(f"line {ln}: matched by several truth entries {entries}")
    for _, _, ln, q in qnorm:
        if ln not in matched_lines:
            errors.append(f"questions.md line {ln} has no truth entry: {q!r}")

    nones = sum(1 for e in truth if isinstance(e, dict) and e.get("none") is True)
    return errors, len(truth), nones


def main():
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else EVALSETS
    sets = sorted(p.parent.parent for p in root.glob("*/stories/truth.json"))
    if not sets:
        print(f"no {root}/*/stories/truth.json found")
        return 1
    failed = 0
    for set_dir in sets:
        errors, count, nones = check_set(set_dir)
        status = "ok" if not errors else "FAIL"
        print(f"{set_dir.name}: {count} questions, {nones} with no story: {status}")
        for e in errors:
            print(f"  - {e}")
        failed += bool(errors)
    print(f"{len(sets) - failed}/{len(sets)} sets pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
