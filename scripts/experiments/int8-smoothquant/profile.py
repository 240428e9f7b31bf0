"""Save ORT's optimised graph (node-type counts) and a per-op-type time profile over 100 measure batches."""
import sys, json, glob, os, collections, onnx; sys.path.insert(0, "/tmp/sq"); from common import *
bts = batches(chunks("measure"))[:100]
for v in sys.argv[1:]:
    s = session(f"{W}/{v}.onnx", profile=True, opt_out=f"{W}/opt_{v}.onnx")
    for b in bts[:5]: s.run(None, b)
    t0 = time.perf_counter()
    for b in bts: s.run(None, b)
    dt = time.perf_counter() - t0
    prof = s.end_profiling()
    ev = json.load(open(prof)); os.remove(prof)
    agg = collections.Counter()
    for e in ev:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            agg[e["args"]["op_name"]] += e["dur"]
    tot = sum(agg.values())
    nodes = collections.Counter(n.op_type for n in onnx.load(f"{W}/opt_{v}.onnx").graph.node)
    print(f"== {v}: {400/dt:.1f} chunks/s (profiling on); optimised graph ops: {dict(nodes)}")
    print("   kernel time share:", ", ".join(f"{k} {100*x/tot:.0f}%" for k, x in agg.most_common(8)))
