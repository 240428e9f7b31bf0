import json, time, numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
TOK = "/root/.cache/starling/models/all-MiniLM-L6-v2/tokenizer.json"
ORIG = "/root/.cache/starling/models/all-MiniLM-L6-v2/model.onnx"
W = "/tmp/sq/work"

def chunks(split):
    return json.load(open(f"{W}/chunks.json"))[split]

def batches(texts, bs=4, maxlen=128):
    tok = Tokenizer.from_file(TOK)
    tok.enable_truncation(maxlen)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # pads to the longest in each encode_batch call
    out = []
    for i in range(0, len(texts), bs):
        enc = tok.encode_batch(texts[i:i + bs])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        am = np.array([e.attention_mask for e in enc], dtype=np.int64)
        out.append({"input_ids": ids, "attention_mask": am, "token_type_ids": np.zeros_like(ids)})
    return out

def session(path, threads=2, profile=False, opt_out=None):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile: so.enable_profiling = True
    if opt_out: so.optimized_model_filepath = opt_out
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

def pool(h, am):
    m = am[..., None].astype(np.float32)
    v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return v / np.linalg.norm(v, axis=1, keepdims=True)

def embed(sess, bts):
    """returns (sentence vectors, seconds spent in sess.run only)"""
    vecs, t = [], 0.0
    for b in bts:
        t0 = time.perf_counter()
        h = sess.run(["last_hidden_state"], b)[0]
        t += time.perf_counter() - t0
        vecs.append(pool(h, b["attention_mask"]))
    return np.concatenate(vecs), t

def cos_stats(a, b):
    c = (a * b).sum(1)  # both L2-normalised
    return {"mean": float(c.mean()), "p1": float(np.percentile(c, 1)), "min": float(c.min())}
