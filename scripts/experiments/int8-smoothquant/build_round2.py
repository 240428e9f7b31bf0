import sys; sys.path.insert(0, "/tmp/sq")
from build_variants import *
mx = dict(np.load(f"{W}/act_max.npz"))
for a in ("0.9", "1.0"):
    smooth(float(a), mx, f"{W}/sq{a}_fp32.onnx")
    quant_skip(f"{W}/sq{a}_fp32.onnx", f"{W}/sq{a}_pc.onnx", True)
for g in ("qkv", "attnout", "ffn1", "ffn2"):
    quant_skip(f"{W}/sq0.8_fp32.onnx", f"{W}/sq0.8_pc_no{g}.onnx", True, skip=(g,))
