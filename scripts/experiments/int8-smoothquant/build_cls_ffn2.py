"""SmoothQuant alpha 0.8 on all 36 weight MatMuls (FFN2 inputs calibrated without the CLS row, others with it),
CLS split (fp32 CLS row) only on the 6 FFN2 (1536->384) MatMuls; all 36 '_rest'/plain MatMuls int8 per-channel."""
import sys; sys.path.insert(0, "/tmp/sq")
from build_cls import *
full = dict(np.load(f"{W}/act_max.npz")); nocls = dict(np.load(f"{W}/act_max_nocls.npz"))
mx = {k: (nocls[k] if k.startswith("gelu") else full[k]) for k in full}
smooth(0.8, mx, f"{W}/sqm0.8_fp32.onnx")
q = cls_split(f"{W}/sqm0.8_fp32.onnx", f"{W}/sq0.8_clsffn2_fp32.onnx", only=lambda d: d == (1536, 384))
m = onnx.load(f"{W}/sq0.8_clsffn2_fp32.onnx")
allq = [n.name for n in weight_matmuls(m) if not n.name.endswith("_cls")]
quantize_dynamic(f"{W}/sq0.8_clsffn2_fp32.onnx", f"{W}/sq0.8_clsffn2_pc.onnx", per_channel=True, reduce_range=False,
                 weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], nodes_to_quantize=allq)
print("quantised", len(allq), "cls-split", len(q))
