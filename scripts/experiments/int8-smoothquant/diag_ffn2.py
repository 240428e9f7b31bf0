"""Where does the FFN2 (GELU-output) range come from: channels or tokens?"""
import sys, onnx; sys.path.insert(0, "/tmp/sq"); from common import *
so = ort.SessionOptions(); so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
s = ort.InferenceSession(f"{W}/calib_tap.onnx", so, providers=["CPUExecutionProvider"])
names = ["gelu", "gelu_1", "gelu_3", "gelu_5", "layer_norm_3", "layer_norm_9"]
bts = batches(chunks("calib"))[:40]
for nm in names:
    rows = []
    for b in bts:
        x = s.run([nm], b)[0]; am = b["attention_mask"]
        tokmax = np.abs(x).max(-1)            # [B,T]
        pos = np.broadcast_to(np.arange(x.shape[1]), am.shape)
        lens = am.sum(1, keepdims=True)
        cls = tokmax[:, 0].max(); sep = tokmax[pos == lens - 1].max()
        pad = tokmax[am == 0].max() if (am == 0).any() else 0
        mid = tokmax[(am == 1) & (pos > 0) & (pos < lens - 1)]
        chmax = np.abs(x).reshape(-1, x.shape[-1]).max(0)
        rows.append((np.abs(x).max(), cls, sep, pad, np.median(mid), np.percentile(mid, 99), np.sort(chmax)[-5:][0], np.median(chmax)))
    r = np.array(rows).mean(0)
    print(f"{nm:13s} batch-max {r[0]:6.2f} | tok-max CLS {r[1]:6.2f} SEP {r[2]:6.2f} PAD {r[3]:6.2f} other median {r[4]:5.2f} p99 {r[5]:5.2f} | 5th-largest channel max {r[6]:6.2f} median channel max {r[7]:5.2f}")
