#!/usr/bin/env python3
"""Check the claim-audit label sets under data/evalsets/*/audit/truth.json.

For every truth.json this verifies:
  * the file is a JSON list of {"file", "claims", "non_claims"} objects, and each
    named draft exists next to truth.json;
  * every claim and non-claim text is an exact (byte-for-byte) substring of its
    draft, occurs exactly once there, and no two texts overlap;
  * every claim has a valid verdict; supported/contradicted claims carry at
    least one evidence reference, unsupported claims carry none;
  * every evidence reference has the form "vault-relative/path.md:LINE", the
    file exists under ../vault, LINE is 1-based, within the file, and that line
    is not blank (it holds the evidence).

Standard library only. Exits 0 when everything passes, 1 otherwise (printing
one line per problem), 2 when no truth.json is found.

Usage: python3 data/evalsets/check_audit_truth.py [EVALSETS_DIR]
"""
import json
import os
import re
import sys
from collections import Counter

VERDICTS = ("supported", "contradicted", "unsupported")
EVIDENCE_RE = re.compile(r"^(?P<path>[^:\s][^:]*\.md):(?P<line>[1-9][0-9]*)$")


def _find_all(haystack, needle):
    out, start = [], 0
    while True:
        i = haystack.find(needle, start)
        if i < 0:
            return out
        out.append(i)
        start = i + 1


def check_set(truth_path, errors):
    audit_dir = os.path.dirname(truth_path)
    set_dir = os.path.dirname(audit_dir)
    vault_dir = os.path.join(set_dir, "vault")
    rel = os.path.relpath(truth_path)
    stats = Counter()

    def err(msg):
        errors.append(f"{rel}: {msg}")

    try:
        with open(truth_path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        err(f"cannot read JSON: {e}")
        return stats
    if not isinstance(data, list) or not data:
        err("top level must be a non-empty JSON list")
        return stats
    if not os.path.isdir(vault_dir):
        err(f"vault folder not found: {os.path.relpath(vault_dir)}")

    line_cache = {}

    def vault_lines(path):
        if path not in line_cache:
            full = os.path.normpath(os.path.join(vault_dir, path))
            if not full.startswith(os.path.normpath(vault_dir) + os.sep) or not os.path.isfile(full):
                line_cache[path] = None
            else:
                with open(full, encoding="utf-8") as f:
                    line_cache[path] = f.read().splitlines()
        return line_cache[path]

    seen_files = set()
    for n, entry in enumerate(data):
        where = f"entry {n}"
        if not isinstance(entry, dict):
            err(f"{where}: must be an object")
            continue
        fname = entry.get("file")
        if not isinstance(fname, str) or not fname.endswith(".md") or "/" in fname:
            err(f"{where}: 'file' must be a bare .md file name, got {fname!r}")
            continue
        where = fname
        if fname in seen_files:
            err(f"{where}: listed twice")
        seen_files.add(fname)
        draft_path = os.path.join(audit_dir, fname)
        try:
            with open(draft_path, encoding="utf-8") as f:
                draft = f.read()
        except OSError as e:
            err(f"{where}: cannot read draft: {e}")
            continue
        claims = entry.get("claims")
        non_claims = entry.get("non_claims")
        if not isinstance(claims, list) or not claims:
            err(f"{where}: 'claims' must be a non-empty list")
            claims = []
        if not isinstance(non_claims, list):
            err(f"{where}: 'non_claims' must be a list")
            non_claims = []

        spans = []  # (start, end, label)

        def locate(text, label):
            if not isinstance(text, str) or not text.strip():
                err(f"{where}: {label}: text must be a non-empty string")
                return
            if text != text.strip():
                err(f"{where}: {label}: text has leading/trailing whitespace: {text!r}")
            hits = _find_all(draft, text)
            if not hits:
                err(f"{where}: {label}: text not found in draft: {text!r}")
                return
            if len(hits) > 1:
                err(f"{where}: {label}: text occurs {len(hits)} times (must be once): {text!r}")
                return
            spans.append((hits[0], hits[0] + len(text), label, text))

        for i, cl in enumerate(claims):
            label = f"claim {i}"
            if not isinstance(cl, dict):
                err(f"{where}: {label}: must be an object")
                continue
            text = cl.get("text")
            locate(text, label)
            verdict = cl.get("verdict")
            if verdict not in VERDICTS:
                err(f"{where}: {label}: verdict must be one of {VERDICTS}, got {verdict!r}")
                continue
            stats[verdict] += 1
            if not isinstance(cl.get("why"), str) or not cl["why"].strip():
                err(f"{where}: {label}: 'why' must be a non-empty string")
            evidence = cl.get("evidence")
            if not isinstance(evidence, list):
                err(f"{where}: {label}: 'evidence' must be a list")
                continue
            if verdict == "unsupported" and evidence:
                err(f"{where}: {label}: unsupported claims must have empty evidence")
            if verdict != "unsupported" and not evidence:
                err(f"{where}: {label}: {verdict} claim needs at least one evidence reference")
            for ev in evidence:
                m = EVIDENCE_RE.match(ev) if isinstance(ev, str) else None
                if not m:
                    err(f"{where}: {label}: bad evidence reference {ev!r} (want path.md:LINE)")
                    continue
                lines = vault_lines(m["path"])
                if lines is None:
                    err(f"{where}: {label}: evidence file not in vault: {m['path']}")
                    continue
                ln = int(m["line"])
                if ln > len(lines):
                    err(f"{where}: {label}: {ev}: line {ln} past end of file ({len(lines)} lines)")
                elif not lines[ln - 1].strip() or lines[ln - 1].strip() == "---":
                    err(f"{where}: {label}: {ev}: line {ln} is blank / holds no evidence")
        for i, text in enumerate(non_claims):
            stats["non_claims"] += 1
            locate(text, f"non_claim {i}")

        spans.sort()
        for (s1, e1, l1, t1), (s2, e2, l2, t2) in zip(spans, spans[1:]):
            if s2 < e1:
                err(f"{where}: {l1} and {l2} overlap in the draft: {t1!r} / {t2!r}")

    drafts_here = {f for f in os.listdir(audit_dir) if f.endswith(".md")}
    for missing in sorted(drafts_here - seen_files):
        err(f"draft {missing} has no entry in truth.json")
    return stats


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    truths = sorted(
        os.path.join(root, d, "audit", "truth.json")
        for d in os.listdir(root)
        if os.path.isfile(os.path.join(root, d, "audit", "truth.json"))
    )
    if not truths:
        print(f"FAIL: no */audit/truth.json under {root}")
        return 2
    errors = []
    for t in truths:
        stats = check_set(t, errors)
        total = sum(stats[v] for v in VERDICTS)
        print(
            f"{os.path.relpath(t)}: {total} claims "
            f"(supported {stats['supported']}, contradicted {stats['contradicted']}, "
            f"unsupported {stats['unsupported']}), {stats['non_claims']} non-claims"
        )
    if errors:
        print(f"\nFAIL: {len(errors)} problem(s):")
        for e in errors:
            print("  - " + e)
        return 1
    print("OK: all audit truth files pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
