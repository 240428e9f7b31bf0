"""As build_cls_ffn2.py but the CLS split covers both FFN MatMuls (FFN1 384->1536 and FFN2 1536->384);
attention Q/K/V/out stay plain int8. SmoothQuant alpha 0.8; FFN inputs calibrated without the CLS row."""
import sys; sys.path.insert(0, "/tmp/sq")
from build_cls import *
full = dict(np.load(f"{W}/act_max.npz")); nocls = dict(np.load(f"{W}/act_max_nocls.npz"))
m0 = onnx.load(FP32); d0 = {i.name: tuple(i.dims) for i in m0.graph.initializer}
FFN = {(1536, 384), (384, 1536)}
ffn_acts = {n.input[0] for n in weight_matmuls(m0) if d0[n.input[1]] in FFN}
mx = {k: (nocls[k] if k in ffn_acts else full[k]) for k in full}
smooth(0.8, mx, f"{W}/sqf0.8_fp32.onnx")
q = cls_split(f"{W}/sqf0.8_fp32.onnx", f"{W}/sq0.8_clsffn_fp32.onnx", only=lambda d: d in FFN)
m = onnx.load(f"{W}/sq0.8_clsffn_fp32.onnx")
allq = [n.name for n in weight_matmuls(m) if not n.name.endswith("_cls")]
quantize_dynamic(f"{W}/sq0.8_clsffn_fp32.onnx", f"{W}/sq0.8_clsffn_pc.onnx", per_channel=True, reduce_range=False,
                 weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], nodes_to_quantize=allq)
print("quantised", len(allq), "cls-split", len(q))
