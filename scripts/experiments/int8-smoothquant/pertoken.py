"""Per-token activation scale for the int8 rest-row MatMuls: xn = xr / max|xr| (per row), int8 MatMul on xn, times max."""
import sys; sys.path.insert(0, "/tmp/sq")
from build_cls import *
def pertoken(src, dst, pick):
    m = onnx.load(src); g = m.graph
    dims = {i.name: tuple(i.dims) for i in g.initializer}
    g.initializer.append(nh.from_array(np.array([-1], dtype=np.int64), "pt_axes"))
    g.initializer.append(nh.from_array(np.array(1e-6, dtype=np.float32), "pt_eps"))
    done, out, q = {}, [], []
    for n in g.node:
        if n.op_type == "MatMul" and n.name.endswith("_rest") and pick(dims[n.input[1]], n):
            x = n.input[0]
            pre = []
            if x not in done:
                done[x] = (f"{x}_ptn", f"{x}_ptm")
                pre = [helper.make_node("Abs", [x], [f"{x}_abs"]),
                       helper.make_node("ReduceMax", [f"{x}_abs"], [f"{x}_mx"], axes=[-1], keepdims=1),
                       helper.make_node("Max", [f"{x}_mx", "pt_eps"], [f"{x}_ptm"]),
                       helper.make_node("Div", [x, f"{x}_ptm"], [f"{x}_ptn"])]
            xn, mm = done[x]; y = n.output[0]
            out += pre
            out.append(helper.make_node("MatMul", [xn, n.input[1]], [f"{y}_n"], name=n.name)); q.append(n.name)
            out.append(helper.make_node("Mul", [f"{y}_n", mm], [y]))
        else:
            out.append(n)
            if n.op_type == "MatMul" and n.name.endswith("_rest"): q.append(n.name)
    del g.node[:]; g.node.extend(out)
    onnx.checker.check_model(m); onnx.save(m, dst + ".fp32.onnx")
    quantize_dynamic(dst + ".fp32.onnx", dst, per_channel=True, reduce_range=False,
                     weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], nodes_to_quantize=q)
src = f"{W}/clsall_nosq_fp32.onnx"
m0 = onnx.load(src)
prod = {o: n for n in m0.graph.node for o in n.output}
def ffn2(d, n): return d == (1536, 384)
def notln(d, n):  # inputs that are not a LayerNorm output: out-proj and FFN2
    return d == (1536, 384) or "layer_norm" not in n.input[0] and "LayerNorm" not in n.input[0]
if __name__ == "__main__":
  for tag, pick in (("pt_ffn2", ffn2), ("pt_all", lambda d, n: True)):
      pertoken(src, f"{W}/{tag}.onnx", pick)
      # strip NaN guards like the built path
      print(tag)

def pertoken_plain(src, dst):
    m = onnx.load(src); g = m.graph
    inits = {i.name for i in g.initializer}
    done, out, q = {}, [], []
    for n in g.node:
        if n.op_type == "MatMul" and n.input[1] in inits:
            x = n.input[0]; pre = []
            if x not in done:
                done[x] = (f"{x}_ptn", f"{x}_ptm")
                pre = [helper.make_node("Abs", [x], [f"{x}_abs"]),
                       helper.make_node("ReduceMax", [f"{x}_abs"], [f"{x}_ptm"], axes=[-1], keepdims=1),
                       helper.make_node("Div", [x, f"{x}_ptm"], [f"{x}_ptn"])]
            xn, mm = done[x]; y = n.output[0]
            out += pre
            out.append(helper.make_node("MatMul", [xn, n.input[1]], [f"{y}_n"], name=n.name or f"{y}_mm")); q.append(out[-1].name)
            out.append(helper.make_node("Mul", [f"{y}_n", mm], [y]))
        else:
            out.append(n)
    del g.node[:]; g.node.extend(out)
    onnx.checker.check_model(m); onnx.save(m, dst + ".fp32.onnx")
    quantize_dynamic(dst + ".fp32.onnx", dst, per_channel=True, reduce_range=False,
                     weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], nodes_to_quantize=q)
