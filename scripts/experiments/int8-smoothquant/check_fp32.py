from common import *
bts = batches(chunks("measure"))
a, ta = embed(session(ORIG), bts)
b, tb = embed(session(f"{W}/fp32.onnx"), bts)
print("fp32-folded vs original int8-export:", cos_stats(a, b), f"time orig {ta:.1f}s fp32 {tb:.1f}s, n={len(a)}")
np.save(f"{W}/ref_fp32.npy", b)
