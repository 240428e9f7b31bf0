"""Fold every int8-weight `Cast(q) -> Mul(., scale)` pair of the Starling int8 export into one fp32 initializer."""
import onnx, numpy as np
from onnx import numpy_helper as nh
SRC = "/root/.cache/starling/models/all-MiniLM-L6-v2/model.onnx"
DST = "/tmp/sq/work/fp32.onnx"
m = onnx.load(SRC); g = m.graph
inits = {i.name: i for i in g.initializer}
cast_out = {}
for n in g.node:
    if n.op_type == "Cast" and n.input[0] in inits and inits[n.input[0]].data_type in (3, 2):  # int8/uint8
        cast_out[n.output[0]] = n
drop, new = [], []
for n in g.node:
    if n.op_type == "Mul" and n.input[0] in cast_out and n.input[1] in inits:
        c = cast_out[n.input[0]]
        w = nh.to_array(inits[c.input[0]]).astype(np.float32) * nh.to_array(inits[n.input[1]]).astype(np.float32)
        new.append(nh.from_array(w.astype(np.float32), n.output[0]))
        drop += [c, n]
dropnames = {id(x) for x in drop}
keep = [n for n in g.node if id(n) not in dropnames]
del g.node[:]; g.node.extend(keep)
used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
newinit = [i for i in g.initializer if i.name in used] + new
del g.initializer[:]; g.initializer.extend(newinit)
onnx.checker.check_model(m)
onnx.save(m, DST)
print("folded", len(new), "weights; nodes", len(g.node))
for n in g.node:
    if n.op_type == "MatMul" and n.input[1] in {x.name for x in new}:
        print(n.name, n.input[0], n.input[1], nh.to_array([x for x in new if x.name == n.input[1]][0]).shape)
