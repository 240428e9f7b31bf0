import sys; sys.path.insert(0, "/tmp/sq"); from common import *
from tokenizers import Tokenizer
texts = chunks("measure")
tok = Tokenizer.from_file(TOK); tok.enable_truncation(128)
order = sorted(range(len(texts)), key=lambda i: len(tok.encode(texts[i]).ids))
bts = batches([texts[i] for i in order])[:250]
ref = np.load(f"{W}/ref_fp32.npy")[order][:1000]
def sess(path, prec):
    so = ort.SessionOptions(); so.intra_op_num_threads = 2; so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("optimization.disable_specified_optimizers", "SkipLayerNormFusion")
    if prec: so.add_session_config_entry("session.x64quantprecision", "1")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
S = {p: sess(f"{W}/pt_all_nonan_gelu.onnx", p) for p in (False, True)}
for r in range(2):
    for p, s in S.items():
        for b in bts[:3]: s.run(None, b)
        vec, t = embed(s, bts)
        print(r, "x64quantprecision" if p else "default", f"{len(vec)/t:.1f} chunks/s", {k: round(x,5) for k,x in cos_stats(ref, vec).items()}, flush=True)
