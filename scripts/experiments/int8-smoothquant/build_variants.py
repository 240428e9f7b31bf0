"""Build quantised variants from /tmp/sq/work/fp32.onnx.
 dyn_pt / dyn_pc      : quantize_dynamic of the 36 weight MatMuls (per_channel False/True, reduce_range False)
 sq{a}_pt / sq{a}_pc  : SmoothQuant (alpha=a) then the same quantize_dynamic
 sq{a}_{pt,pc}_ffn2fp32 : as above but the 6 FFN-down (1536->384) MatMuls left in fp32 (built with --ffn2 ALPHA)
"""
import sys, onnx, numpy as np
from onnx import numpy_helper as nh, helper
from onnxruntime.quantization import quantize_dynamic, QuantType
sys.path.insert(0, "/tmp/sq"); from common import *

FP32 = f"{W}/fp32.onnx"

def weight_matmuls(m):
    inits = {i.name for i in m.graph.initializer}
    return [n for n in m.graph.node if n.op_type == "MatMul" and n.input[1] in inits]

def collect_act_max():
    """per-input-channel max|x| for every weight-MatMul activation input, over the calibration half
    (batches of 4 padded to longest, all positions incl. padding -- exactly the tensors seen at run time)."""
    m = onnx.load(FP32)
    names = sorted({n.input[0] for n in weight_matmuls(m)})
    for nm in names:
        m.graph.output.append(helper.make_tensor_value_info(nm, onnx.TensorProto.FLOAT, None))
    onnx.save(m, f"{W}/calib_tap.onnx")
    so = ort.SessionOptions(); so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(f"{W}/calib_tap.onnx", so, providers=["CPUExecutionProvider"])
    mx = {nm: None for nm in names}
    for b in batches(chunks("calib")):
        outs = s.run(names, b)
        for nm, o in zip(names, outs):
            v = np.abs(o).reshape(-1, o.shape[-1]).max(0)
            mx[nm] = v if mx[nm] is None else np.maximum(mx[nm], v)
    np.savez(f"{W}/act_max.npz", **mx)
    return mx

def smooth(alpha, mx, out):
    m = onnx.load(FP32); g = m.graph
    inits = {i.name: i for i in g.initializer}
    by_act = {}
    for n in weight_matmuls(m):
        by_act.setdefault(n.input[0], []).append(n)
    new_nodes = []
    for act, mms in by_act.items():
        Ws = [nh.to_array(inits[n.input[1]]) for n in mms]
        wmax = np.max(np.stack([np.abs(w).max(1) for w in Ws]), 0)          # per input channel (row)
        s = (np.maximum(mx[act], 1e-5) ** alpha) / (np.maximum(wmax, 1e-5) ** (1 - alpha))
        s = np.clip(s, 1e-5, None).astype(np.float32)
        inv = nh.from_array((1.0 / s).astype(np.float32), f"{act}_sq_inv")
        g.initializer.append(inv)
        sm = f"{act}_sq"
        new_nodes.append((act, helper.make_node("Mul", [act, inv.name], [sm], name=f"{act}_sq_mul")))
        for n, w in zip(mms, Ws):
            inits[n.input[1]].CopyFrom(nh.from_array((w * s[:, None]).astype(np.float32), n.input[1]))
            n.input[0] = sm
    # insert each Mul right after the producer of its input (keeps topological order)
    order = list(g.node); pos = {o: i for i, n in enumerate(order) for o in n.output}
    for act, node in sorted(new_nodes, key=lambda x: -pos[x[0]]):
        order.insert(pos[act] + 1, node)
    del g.node[:]; g.node.extend(order)
    onnx.checker.check_model(m)
    onnx.save(m, out)

def quant(src, dst, per_channel, skip_ffn2=False):
    m = onnx.load(src)
    nodes = [n for n in weight_matmuls(m)]
    if skip_ffn2:
        inits = {i.name: i for i in m.graph.initializer}
        nodes = [n for n in nodes if inits[n.input[1]].dims[0] != 1536]
    quantize_dynamic(src, dst, per_channel=per_channel, reduce_range=False, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul"], nodes_to_quantize=[n.name for n in nodes])
    print(dst, "quantised MatMuls:", len(nodes))

if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--ffn2":
        a = sys.argv[2]
        for pc in (False, True):
            quant(f"{W}/sq{a}_fp32.onnx", f"{W}/sq{a}_{'pc' if pc else 'pt'}_ffn2fp32.onnx", pc, skip_ffn2=True)
        sys.exit()
    quant(FP32, f"{W}/dyn_pt.onnx", False); quant(FP32, f"{W}/dyn_pc.onnx", True)
    mx = collect_act_max()
    for k, v in mx.items(): print(f"act {k:16s} max {v.max():9.2f} median {np.median(v):7.3f}")
    for a in ("0.5", "0.65", "0.8"):
        smooth(float(a), mx, f"{W}/sq{a}_fp32.onnx")
        for pc in (False, True):
            quant(f"{W}/sq{a}_fp32.onnx", f"{W}/sq{a}_{'pc' if pc else 'pt'}.onnx", pc)

# ---- extra variants (second round): higher alpha, and leaving one MatMul group in fp32 ----
GROUPS = {  # classify a weight MatMul by its activation input / weight shape
    "qkv": lambda act, shp: act.startswith("layer_norm") and shp == (384, 384),
    "attnout": lambda act, shp: act.startswith("view_"),
    "ffn1": lambda act, shp: shp == (384, 1536),
    "ffn2": lambda act, shp: shp == (1536, 384),
}
def quant_skip(src, dst, per_channel, skip=()):
    m = onnx.load(src)
    inits = {i.name: i for i in m.graph.initializer}
    def act0(n):  # strip the SmoothQuant suffix
        return n.input[0][:-3] if n.input[0].endswith("_sq") else n.input[0]
    nodes = [n for n in weight_matmuls(m)
             if not any(GROUPS[gname](act0(n), tuple(inits[n.input[1]].dims)) for gname in skip)]
    quantize_dynamic(src, dst, per_channel=per_channel, reduce_range=False, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul"], nodes_to_quantize=[n.name for n in nodes])
    print(dst, "quantised MatMuls:", len(nodes), "skipped groups:", skip)
