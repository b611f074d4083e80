#!/usr/bin/python3
"""Independent reference for the encoder: runs the same ONNX model with OpenCV's DNN module (not ONNX Runtime).

usage: opencv_encoder.py MODEL INPUT.f32 N OUTPUT.f32
INPUT holds N preprocessed images, float32 NCHW [N,3,224,224] little-endian. OUTPUT receives, per image, the 1280
global-average-pool features (the model's 464_quantized tensor, dequantized with the graph's own 464_scale and
464_zero_point, read here with python3-onnx) followed by the 1000 output logits, float32.
"""
import sys

import cv2
import numpy as np
import onnx
from onnx import numpy_helper

model_path, input_path, n, output_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
graph = onnx.load(model_path).graph
inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
scale, zero_point = float(inits["464_scale"]), int(inits["464_zero_point"])

net = cv2.dnn.readNetFromONNX(model_path)
images = np.fromfile(input_path, dtype="<f4").reshape(n, 3, 224, 224)
rows = []
for image in images:  # OpenCV's int8 layers take one image at a time
    net.setInput(image[None])
    pooled = net.forward("onnx_node!GlobalAveragePool_97_quant").astype(np.int32).ravel()
    # OpenCV keeps uint8 tensors as int8 shifted by -128.
    features = ((pooled + 128) - zero_point) * scale
    net.setInput(image[None])
    logits = net.forward("output").ravel()
    rows.append(np.concatenate([features, logits]).astype("<f4"))
np.stack(rows).tofile(output_path)
