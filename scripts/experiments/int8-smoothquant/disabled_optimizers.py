import onnxruntime as ort, onnx, collections, sys, os
src = "/root/.cache/starling/models/all-MiniLM-L6-v2/model.onnx"
for val in ["ConstantFolding", "SkipLayerNormFusion", "ConstantFolding,SkipLayerNormFusion", "ConstantFolding;SkipLayerNormFusion", "ConstantFolding, SkipLayerNormFusion"]:
    so = ort.SessionOptions(); so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("optimization.disable_specified_optimizers", val)
    so.optimized_model_filepath = "/tmp/par/opt.onnx"
    ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    m = onnx.load("/tmp/par/opt.onnx")
    ops = collections.Counter(n.op_type for n in m.graph.node)
    print(repr(val), "SkipLN", ops.get("SkipLayerNormalization", 0), "Cast", ops.get("Cast", 0), "LN", ops.get("LayerNormalization", 0))
