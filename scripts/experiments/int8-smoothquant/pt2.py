import sys; sys.path.insert(0, "/tmp/sq")
import pertoken as P
P.pertoken_plain(P.FP32, f"{P.W}/pt_plain.onnx")
