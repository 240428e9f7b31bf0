"""cls2 variants: like build_cls.py, but the CLS-row MatMul is ALSO int8 (its own DynamicQuantizeLinear scale,
same int8 weight), so no fp32 weights are read at run time."""
import sys; sys.path.insert(0, "/tmp/sq")
from build_cls import *
mx = dict(np.load(f"{W}/act_max_nocls.npz"))
for name, src in {"cls2": FP32, "sqc0.8_cls2": f"{W}/sqc0.8_fp32.onnx"}.items():
    q = cls_split(src, f"{W}/{name}_fp32.onnx")
    q = q + [x[:-5] + "_cls" for x in q]          # quantise both the _rest and the _cls MatMul
    dst = f"{W}/{name}_pc.onnx"
    quantize_dynamic(f"{W}/{name}_fp32.onnx", dst, per_channel=True, reduce_range=False,
                     weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], nodes_to_quantize=q)
    print(dst, "quantised", len(q))
