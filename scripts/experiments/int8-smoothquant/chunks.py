"""Build calibration / measure chunk sets from the synthetic evalset vaults.
Notes are sorted by path; even-index notes -> calibration, odd-index -> measure.
Each note is split into blocks (blank-line paragraphs; each list item / heading is its own block),
blocks are greedily grouped to ~100 word-pieces (target 100, never > 128).
To reach >= 1500 measuring chunks from a small corpus (~74k words), each note additionally contributes
sliding windows of 100 word-pieces at stride 40 (overlapping but distinct chunks)."""
import glob, json, re, sys
from tokenizers import Tokenizer
TOK = "/root/.cache/starling/models/all-MiniLM-L6-v2/tokenizer.json"
tok = Tokenizer.from_file(TOK)
tok.no_padding(); tok.no_truncation()
def blocks(text):
    out = []
    for para in re.split(r"\n\s*\n", text):
        cur = []
        for line in para.split("\n"):
            s = line.strip()
            if not s: continue
            if re.match(r"^(#{1,6}\s|[-*+]\s|\d+[.)]\s|\|)", s) and cur:
                out.append(" ".join(cur)); cur = []
            cur.append(s)
        if cur: out.append(" ".join(cur))
    return out
def npieces(s): return len(tok.encode(s).ids) - 2
def group(bl, target=100):
    res, cur, n = [], [], 0
    for b in bl:
        k = npieces(b)
        if cur and n + k > target:
            res.append(" ".join(cur)); cur, n = [], 0
        cur.append(b); n += k
    if cur: res.append(" ".join(cur))
    return res
files = sorted(glob.glob("/work/main/data/evalsets/*/vault/**/*.md", recursive=True))
sets = {"calib": [], "measure": []}
for i, f in enumerate(files):
    bl = blocks(open(f, encoding="utf-8").read())
    seen = set()
    cands = group(bl)
    # plus sliding windows of 100 word-pieces, stride 40, over the note's block text
    text = "\n".join(bl)
    enc = tok.encode(text, add_special_tokens=False)
    offs = enc.offsets
    for st in range(0, max(1, len(offs) - 60), 40):
        w = offs[st:st + 100]
        if not w: continue
        cands.append(text[w[0][0]:w[-1][1]])
    for c in cands:
        if c not in seen and npieces(c) >= 20:
            seen.add(c); sets["calib" if i % 2 == 0 else "measure"].append(c)
for k, v in sets.items():
    lens = sorted(min(128, npieces(c) + 2) for c in v)
    print(k, "notes", len(files[0 if k == "calib" else 1::2]), "chunks", len(v), "median tokens", lens[len(lens)//2], "mean", sum(lens)/len(lens))
json.dump(sets, open("/tmp/sq/work/chunks.json", "w"))
