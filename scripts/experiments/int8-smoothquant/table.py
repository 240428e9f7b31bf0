"""Print the REPORT table from work/bench.json (session A), bench2.json (B), bench3.json (C).
Ratio = mean of the variant's quiet-machine runs / mean of fp32's quiet-machine runs (A run1 excluded: load avg 3.7 from other jobs)."""
import json
S = {k: json.load(open(f"/tmp/sq/work/{f}")) for k, f in (("A", "bench.json"), ("B", "bench2.json"), ("C", "bench3.json"))}
def quiet(v):
    out = []
    for k, d in S.items():
        if v in d:
            out += [d[v]["run2"]] + ([d[v]["run1"]] if k != "A" else [])
    return out
fp = quiet("fp32"); fpm = sum(fp) / len(fp)
print(f"fp32 quiet-run mean = {fpm:.1f} chunks/s\n")
print("| variant | cos mean | cos p1 | cos min | chunks/s A (run1, run2) | B (run1, run2) | C (run1, run2) | ratio vs fp32 |")
print("|---|---|---|---|---|---|---|---|")
names = []
for d in S.values():
    names += [v for v in d if v not in names]
for v in names:
    r = next(d[v] for d in S.values() if v in d)
    cell = lambda k: f"{S[k][v]['run1']:.1f}, {S[k][v]['run2']:.1f}" if v in S[k] else "-"
    q = quiet(v)
    print(f"| {v} | {r['mean']:.5f} | {r['p1']:.5f} | {r['min']:.5f} | {cell('A')} | {cell('B')} | {cell('C')} | {sum(q)/len(q)/fpm:.2f}x |")
