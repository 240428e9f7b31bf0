"""Quick accuracy pass: cosine of each variant's sentence vectors vs the fp32 reference on the measure half."""
import sys; sys.path.insert(0, "/tmp/sq"); from common import *
ref = np.load(f"{W}/ref_fp32.npy")
bts = batches(chunks("measure"))
for v in sys.argv[1:]:
    vec, t = embed(session(f"{W}/{v}.onnx"), bts)
    print(f"{v:22s}", {k: round(x, 5) for k, x in cos_stats(ref, vec).items()}, f"{len(vec)/t:.1f} chunks/s", flush=True)
