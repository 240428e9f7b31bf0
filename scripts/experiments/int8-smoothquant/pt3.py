import sys; sys.path.insert(0, "/tmp/sq")
import pertoken as P, onnx
src = f"{P.W}/clsall_nosq_fp32.onnx"
m0 = onnx.load(src)
cnt = {}
for n in m0.graph.node:
    for i in n.input: cnt[i] = cnt.get(i, 0) + 1
def kind(d, n):
    if d == (1536, 384): return "ffn2"
    if d == (384, 1536): return "ffn1"
    # QKV share an input (3 rest matmuls); out-proj's input feeds only it
    return "out" if sum(1 for k in m0.graph.node if k.op_type == "MatMul" and k.input[0] == n.input[0]) == 1 else "qkv"
for tag, ks in (("pt_noffn2", {"qkv","out","ffn1"}), ("pt_qkvffn1", {"qkv","ffn1"}), ("pt_outffn2", {"out","ffn2"})):
    P.pertoken(src, f"{P.W}/{tag}.onnx", lambda d, n, ks=ks: kind(d, n) in ks)
    print(tag)
