"""CLS-split variants: the [CLS] token (position 0) carries 5-8x larger activations than every other token
(an 'attention sink'), which dominates DynamicQuantizeLinear's per-tensor range. For each weight MatMul
Y = X @ W we compute row 0 in fp32 and rows 1.. with int8:
    X0 = Slice(X, 0:1, axis 1); Xr = Slice(X, 1:, axis 1)      (one pair per activation tensor, shared by Q/K/V)
    Y  = Concat(MatMul(X0, W) [fp32], MatMul(Xr, W) [-> DynamicQuantizeMatMul/MatMulIntegerToFloat], axis 1)
Optionally SmoothQuant first (act max collected WITHOUT the CLS row)."""
import sys; sys.path.insert(0, "/tmp/sq")
from build_variants import *

def collect_act_max_nocls():
    names = sorted({n.input[0] for n in weight_matmuls(onnx.load(FP32))})
    so = ort.SessionOptions(); so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(f"{W}/calib_tap.onnx", so, providers=["CPUExecutionProvider"])
    mx = {nm: None for nm in names}
    for b in batches(chunks("calib")):
        for nm, o in zip(names, s.run(names, b)):
            v = np.abs(o[:, 1:, :]).reshape(-1, o.shape[-1]).max(0)
            mx[nm] = v if mx[nm] is None else np.maximum(mx[nm], v)
    np.savez(f"{W}/act_max_nocls.npz", **mx)
    return mx

def cls_split(src, dst_fp32, only=None):
    """only: optional predicate(weight_dims) selecting which MatMuls get the CLS split"""
    m = onnx.load(src); g = m.graph
    dims = {i.name: tuple(i.dims) for i in g.initializer}
    c = lambda name, arr: g.initializer.append(nh.from_array(np.array(arr, dtype=np.int64), name))
    c("cs_0", [0]); c("cs_1", [1]); c("cs_big", [1 << 40]); c("cs_ax", [1])
    split, new_nodes, qnames = {}, [], []
    for n in weight_matmuls(m):
        if only is not None and not only(dims[n.input[1]]):
            continue
        x = n.input[0]
        if x not in split:
            split[x] = (f"{x}_cls", f"{x}_rest")
            new_nodes.append((x, [helper.make_node("Slice", [x, "cs_0", "cs_1", "cs_ax"], [f"{x}_cls"], name=f"{x}_slice_cls"),
                                  helper.make_node("Slice", [x, "cs_1", "cs_big", "cs_ax"], [f"{x}_rest"], name=f"{x}_slice_rest")]))
        x0, xr = split[x]; y = n.output[0]
        mm0 = helper.make_node("MatMul", [x0, n.input[1]], [f"{y}_cls"], name=f"{n.name}_cls")
        mmr = helper.make_node("MatMul", [xr, n.input[1]], [f"{y}_rest"], name=f"{n.name}_rest")
        cat = helper.make_node("Concat", [f"{y}_cls", f"{y}_rest"], [y], name=f"{n.name}_cat", axis=1)
        new_nodes.append((n.name, [mm0, mmr, cat])); qnames.append(mmr.name)
    # rebuild node list: slices after producer of x, replace MatMul by its three nodes
    rep = {k: v for k, v in new_nodes if k in {n.name for n in g.node}}
    after = {k: v for k, v in new_nodes if k not in rep}
    out = []
    producers = {o: n for n in g.node for o in n.output}
    for k in after:
        if k not in producers: out.extend(after[k])  # graph inputs (none expected)
    for n in g.node:
        out.extend(rep.get(n.name, [n]))
        for o in n.output:
            if o in after: out.extend(after[o])
    del g.node[:]; g.node.extend(out)
    onnx.checker.check_model(m); onnx.save(m, dst_fp32)
    return qnames

if __name__ == "__main__":
    mx = collect_act_max_nocls()
    for k in ("gelu", "layer_norm_3"): print(k, "max without CLS", mx[k].max())
    srcs = {"cls": FP32}
    for a in ("0.5", "0.8"):
        smooth(float(a), mx, f"{W}/sqc{a}_fp32.onnx"); srcs[f"sqc{a}_cls"] = f"{W}/sqc{a}_fp32.onnx"
    for name, src in srcs.items():
        q = cls_split(src, f"{W}/{name}_fp32.onnx")
        for pc in (False, True):
            dst = f"{W}/{name}_{'pc' if pc else 'pt'}.onnx"
            quantize_dynamic(f"{W}/{name}_fp32.onnx", dst, per_channel=pc, reduce_range=False,
                             weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], nodes_to_quantize=q)
            print(dst, "quantised", len(q))
