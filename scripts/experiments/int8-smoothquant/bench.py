"""Final measurement: every variant on the measure half, batches of 4 padded to the batch's longest,
intra_op=2, inter_op=1, sequential, ORT_ENABLE_ALL. Two rounds, variants alternating inside each round.
Only sess.run is timed (tokenisation done up front). Cosine stats vs fp32 reference from round 1."""
import sys, os, resource; sys.path.insert(0, "/tmp/sq"); from common import *
VARIANTS = sys.argv[1:]
ref = np.load(f"{W}/ref_fp32.npy")
bts = batches(chunks("measure"))
n = sum(len(b["input_ids"]) for b in bts)
sess = {v: session(ORIG if v == "orig_int8export" else f"{W}/{v}.onnx") for v in VARIANTS}
for v in VARIANTS:
    for b in bts[:3]: sess[v].run(None, b)
res = {v: {} for v in VARIANTS}
for r in (1, 2):
    for v in VARIANTS:
        load = os.getloadavg()[0]
        c0 = time.process_time()
        vec, t = embed(sess[v], bts)
        cpu = time.process_time() - c0
        res[v][f"run{r}"] = n / t; res[v][f"cpu{r}"] = cpu; res[v][f"load{r}"] = load
        if r == 1: res[v].update(cos_stats(ref, vec))
        print(f"round {r} {v:22s} {n/t:6.1f} chunks/s  cpu {cpu:5.1f}s  load1m {load:.1f}  " +
              (f"cos mean {res[v]['mean']:.5f} p1 {res[v]['p1']:.5f} min {res[v]['min']:.5f}" if r == 1 else ""), flush=True)
json.dump(res, open(os.environ.get("BENCH_OUT", f"{W}/bench.json"), "w"), indent=1)
