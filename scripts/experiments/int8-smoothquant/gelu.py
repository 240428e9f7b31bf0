"""Replace x*(0.5*(1+erf(x/sqrt2))) with com.microsoft.Gelu (or BiasGelu when x = Add(y, bias-initializer))."""
import sys, onnx
from onnx import helper
def fuse(src, dst, bias=True):
    m = onnx.load(src); g = m.graph
    inits = {i.name for i in g.initializer}
    prod = {o: n for n in g.node for o in n.output}
    cons = {}
    for n in g.node:
        for i in n.input: cons.setdefault(i, []).append(n)
    drop, repl = set(), {}
    for e in [n for n in g.node if n.op_type == "Erf"]:
        d = prod[e.input[0]]; x = d.input[0]
        a = cons[e.output[0]][0]; m1 = cons[a.output[0]][0]; m2 = cons[m1.output[0]][0]
        assert d.op_type == "Div" and a.op_type == "Add" and m1.op_type == "Mul" and m2.op_type == "Mul" and x in m2.input
        px = prod.get(x)
        if bias and px is not None and px.op_type == "Add" and px.input[1] in inits and len(cons[x]) == 2:
            node = helper.make_node("BiasGelu", [px.input[0], px.input[1]], [m2.output[0]], domain="com.microsoft", name=f"{m2.output[0]}_biasgelu")
            drop |= {id(px)}; anchor = px
        else:
            node = helper.make_node("Gelu", [x], [m2.output[0]], domain="com.microsoft", name=f"{m2.output[0]}_gelu")
            anchor = d
        drop |= {id(d), id(e), id(a), id(m1), id(m2)}
        repl[id(m2)] = node
    out = []
    for n in g.node:
        if id(n) in repl: out.append(repl[id(n)])
        elif id(n) not in drop: out.append(n)
    del g.node[:]; g.node.extend(out)
    if not any(o.domain == "com.microsoft" for o in m.opset_import):
        m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(m, dst); print(dst, len(repl), "gelus")
for v in sys.argv[1:]:
    fuse(f"/tmp/sq/work/{v}.onnx", f"/tmp/sq/work/{v}_gelu.onnx")
