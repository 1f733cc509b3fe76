// The smallest useful ONNX model, encoded by hand in protobuf wire format: y = Identity(x)
// with x, y float32[3]. Running it proves that a packaged onnxruntime-node loads its native
// binding and runtime library and executes a graph, without shipping or generating a model file.

const VARINT = 0;
const LENGTH_DELIMITED = 2;
const TENSOR_ELEMENT_FLOAT = 1;
const IR_VERSION = 8;
const OPSET = 13;

/** @param {number} value @returns {number[]} */
function varint(value) {
  const bytes = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

/** @param {number} field @param {number} value @returns {number[]} */
function varintField(field, value) {
  return [...varint((field << 3) | VARINT), ...varint(value)];
}

/** @param {number} field @param {number[] | string} payload @returns {number[]} */
function bytesField(field, payload) {
  const bytes = typeof payload === 'string' ? [...Buffer.from(payload, 'utf8')] : payload;
  return [...varint((field << 3) | LENGTH_DELIMITED), ...varint(bytes.length), ...bytes];
}

/** ValueInfoProto for a float32 vector of the given length. @param {string} name @param {number} length */
function floatVector(name, length) {
  const dimension = varintField(1, length); // TensorShapeProto.Dimension.dim_value
  const shape = bytesField(1, dimension); // TensorShapeProto.dim
  const tensorType = [...varintField(1, TENSOR_ELEMENT_FLOAT), ...bytesField(2, shape)]; // elem_type, shape
  const type = bytesField(1, tensorType); // TypeProto.tensor_type
  return [...bytesField(1, name), ...bytesField(2, type)]; // ValueInfoProto.name, .type
}

/** @param {number} length @returns {Uint8Array} ModelProto bytes */
export function identityOnnxModel(length) {
  const node = [...bytesField(1, 'x'), ...bytesField(2, 'y'), ...bytesField(4, 'Identity')]; // NodeProto
  const graph = [
    ...bytesField(1, node),
    ...bytesField(2, 'package-smoke-check'),
    ...bytesField(11, floatVector('x', length)),
    ...bytesField(12, floatVector('y', length)),
  ];
  const opset = [...bytesField(1, ''), ...varintField(2, OPSET)]; // OperatorSetIdProto
  return Uint8Array.from([...varintField(1, IR_VERSION), ...bytesField(7, graph), ...bytesField(8, opset)]);
}
