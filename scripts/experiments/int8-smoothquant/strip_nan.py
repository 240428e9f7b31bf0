"""Remove the exporter's NaN guard after each attention Softmax: Where(IsNaN(p), 0, p) -> p.
Safe here because every row of the attention mask has >= 1 unmasked key ([CLS]), so Softmax never yields NaN."""
import sys, onnx
for name in sys.argv[1:]:
    m = onnx.load(f"/tmp/sq/work/{name}.onnx"); g = m.graph
    prod = {o: n for n in g.node for o in n.output}
    ren, drop = {}, set()
    for n in g.node:
        if n.op_type == "Where" and n.input[0] in prod and prod[n.input[0]].op_type == "IsNaN" \
                and prod[n.input[0]].input[0] == n.input[2] and prod.get(n.input[2]) is not None \
                and prod[n.input[2]].op_type == "Softmax":
            ren[n.output[0]] = n.input[2]; drop |= {id(n), id(prod[n.input[0]])}
    keep = [n for n in g.node if id(n) not in drop]
    for n in keep:
        for i, x in enumerate(n.input):
            if x in ren: n.input[i] = ren[x]
    del g.node[:]; g.node.extend(keep)
    onnx.save(m, f"/tmp/sq/work/{name}_nonan.onnx"); print(name, "removed", len(ren), "IsNaN/Where pairs")
