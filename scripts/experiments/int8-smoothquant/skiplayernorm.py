import sys; sys.path.insert(0, "/tmp/sq"); from common import *
texts = chunks("measure")
from tokenizers import Tokenizer
tok = Tokenizer.from_file(TOK); tok.enable_truncation(128)
order = sorted(range(len(texts)), key=lambda i: len(tok.encode(texts[i]).ids))
bts = batches([texts[i] for i in order])
def sess(path, dis):
    so = ort.SessionOptions(); so.intra_op_num_threads = 2; so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"], disabled_optimizers=dis)
S = {}
import os
DIS = [["SkipLayerNormFusion"]] if os.environ.get("ONLYNOSKIP") else [[], ["SkipLayerNormFusion"]]
for v in sys.argv[1:]:
    for dis in DIS:
        S[(v, tuple(dis))] = sess(f"{W}/{v}.onnx", dis)
for r in range(2):
    for k, s in S.items():
        for b in bts[:3]: s.run(None, b)
        vec, t = embed(s, bts)
        print(r, k, f"{len(vec)/t:.1f} chunks/s", flush=True)
