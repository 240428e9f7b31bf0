import sys; sys.path.insert(0, "/tmp/sq"); from common import *
from tokenizers import Tokenizer
ref = np.load(f"{W}/ref_fp32.npy")
texts = chunks("measure")
tok = Tokenizer.from_file(TOK); tok.enable_truncation(128)
lens = [len(tok.encode(t).ids) for t in texts]
order = sorted(range(len(texts)), key=lambda i: lens[i])
bts = batches([texts[i] for i in order])
refs = ref[order]
for v in sys.argv[1:]:
    vec, t = embed(session(f"{W}/{v}.onnx"), bts)
    print(f"{v:22s} sorted", {k: round(x, 5) for k, x in cos_stats(refs, vec).items()}, f"{len(vec)/t:.1f} chunks/s", flush=True)
