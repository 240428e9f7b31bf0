//! Rewrites of an embedding model's ONNX graph that keep its arithmetic and cut its work,
//! done on the protobuf wire bytes before ONNX Runtime sees them. The graph's node list is
//! decoded and written anew; of the rest only names, element types and shapes are read, and
//! every other field (the weights above all) is copied through as it was. A graph with
//! subgraphs (`If`, `Loop`, `Scan` bodies, which may read outer values by name) is left alone.
//!
//! The default all-MiniLM-L6-v2 int8 export stores each weight as int8 plus a scale and turns it
//! back into float with `Cast` and `Mul` on every call. For the 30,522 × 384 word-embedding table
//! that is 11.7 million values per call, to look up a few hundred rows; and after each softmax the
//! exporter guards against NaN (a row with every key masked, which never happens when the first
//! token, `[CLS]`, is always a real one). [`streamline`] looks the rows up in the int8 table and
//! scales only those, and drops the guards: the vectors are the same (see the tests), and the
//! per-call cost no longer grows with the vocabulary, so short batches pay. Each feed-forward
//! GELU, which the exporter writes as five elementwise nodes over the widest state of a layer
//! (`x · (0.5 · (1 + erf(x / √2)))`, in an order ONNX Runtime's own fusion does not match),
//! becomes ONNX Runtime's one-pass `com.microsoft.Gelu` (the same function; ONNX Runtime then
//! folds the bias `Add` before it into `BiasGelu`).

use std::collections::{HashMap, HashSet};

/// What [`streamline`] changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Streamlined {
    /// The model's bytes after the rewrite.
    pub bytes: Vec<u8>,
    /// Table lookups now made on the int8 table.
    pub int8_lookups: usize,
    /// NaN guards removed after a softmax.
    pub nan_guards: usize,
    /// Five-node GELUs written as one `com.microsoft.Gelu`.
    pub gelus: usize,
}

/// Rewrites the model if it has the patterns above; `None` when there is nothing to change or
/// the bytes are not a model this understands (ONNX Runtime then reads them as they are).
pub fn streamline(model: &[u8]) -> Option<Streamlined> {
    let (bytes, counts) = with_graph(model, |graph| {
        let (graph, counts) = rewrite_graph(graph)?;
        (counts.int8_lookups + counts.nan_guards + counts.gelus > 0).then_some((graph, counts))
    })?;
    let bytes = if counts.gelus > 0 {
        with_opset(bytes, CONTRIB_DOMAIN, 1)?
    } else {
        bytes
    };
    Some(Streamlined { bytes, ..counts })
}

/// What [`int8_products`] changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Int8Products {
    /// The model's bytes after the rewrite.
    pub bytes: Vec<u8>,
    /// Matrix products now computed on 8-bit integers (all but the first token's row).
    pub products: usize,
}

/// Computes each product of a token's state with an int8 weight matrix in integers: the weight as
/// stored (int8, one scale per output column, the form of the default all-MiniLM-L6-v2 export)
/// times the states quantised to 8 bits on the fly, where the model as shipped turns the weights
/// into floats and multiplies floats. Each token's row is first divided by its own largest
/// magnitude (`Abs`, `ReduceMax`, `Div`) and the product multiplied back by it, so that the one
/// scale `DynamicQuantizeLinear` takes per call spans every token's range rather than the
/// batch's widest row: vectors at 0.9997 mean cosine of the float ones on the project's own
/// notes (0.9988 with one scale for the batch), for about 1.35x the texts per second of the
/// float products on two cores (see `FastEmbedder`, which checks the vectors before use).
///
/// The first token of each text (`[CLS]`) keeps its float product: its states are 5-8 times
/// larger than every other token's (an attention sink) and a few of its channels carry most of
/// that, so even on its own scale its row loses too much in 8 bits (0.9982 with it quantised
/// on its own scale). The split is on axis 1, the sequence of a `[batch, tokens, width]` state;
/// the caller checks the rewritten model's vectors against the float ones, since a graph laid
/// out otherwise is not detected here. `None` when there is no such product or the bytes are not
/// a model this understands.
pub fn int8_products(model: &[u8]) -> Option<Int8Products> {
    let axes_input = default_opset(model).is_some_and(|version| version >= 18);
    let (bytes, products) = with_graph(model, |graph| rewrite_products(graph, axes_input))?;
    Some(Int8Products { bytes, products })
}

/// The version of the default (`ai.onnx`) operator set the model imports.
fn default_opset(model: &[u8]) -> Option<u64> {
    parse(model)?
        .iter()
        .filter(|f| f.number == MODEL_OPSET_IMPORT)
        .filter_map(|f| parse(f.bytes()?))
        .find(|set| {
            !set.iter().any(|f| {
                f.number == OPSET_DOMAIN && !matches!(f.text(), Some("") | Some("ai.onnx"))
            })
        })?
        .iter()
        .find(|f| f.number == OPSET_VERSION && f.wire == WIRE_VARINT)
        .map(|f| f.value)
}

/// The model with its graph put through `rewrite`; `None` when the bytes are no model or
/// `rewrite` gives nothing.
fn with_graph<T>(
    model: &[u8],
    rewrite: impl FnOnce(&[u8]) -> Option<(Vec<u8>, T)>,
) -> Option<(Vec<u8>, T)> {
    let fields = parse(model)?;
    let graph_field = fields.iter().position(|f| f.number == MODEL_GRAPH)?;
    let (graph, changed) = rewrite(fields[graph_field].bytes()?)?;
    let mut bytes = Vec::with_capacity(model.len() + 4096);
    for (index, field) in fields.iter().enumerate() {
        if index == graph_field {
            put_bytes(&mut bytes, MODEL_GRAPH, &graph);
        } else {
            bytes.extend_from_slice(field.raw);
        }
    }
    Some((bytes, changed))
}

// Field numbers from onnx.proto.
const MODEL_GRAPH: u32 = 7;
const MODEL_OPSET_IMPORT: u32 = 8;
const OPSET_DOMAIN: u32 = 1;
const OPSET_VERSION: u32 = 2;
const GRAPH_NODE: u32 = 1;
const GRAPH_INITIALIZER: u32 = 5;
const GRAPH_OUTPUT: u32 = 12;
const NODE_INPUT: u32 = 1;
const NODE_OUTPUT: u32 = 2;
const NODE_OP_TYPE: u32 = 4;
const NODE_ATTRIBUTE: u32 = 5;
const NODE_DOMAIN: u32 = 7;
const ATTRIBUTE_NAME: u32 = 1;
const ATTRIBUTE_I: u32 = 3;
const ATTRIBUTE_G: u32 = 6;
const ATTRIBUTE_GRAPHS: u32 = 11;
const ATTRIBUTE_TYPE: u32 = 20;
const ATTRIBUTE_INTS: u32 = 8;
const ATTRIBUTE_TYPE_INT: u64 = 2;
const ATTRIBUTE_TYPE_INTS: u64 = 7;
const TENSOR_DIMS: u32 = 1;
const TENSOR_DATA_TYPE: u32 = 2;
const TENSOR_NAME: u32 = 8;
const TENSOR_FLOAT_DATA: u32 = 4;
const TENSOR_RAW_DATA: u32 = 9;
const VALUE_INFO_NAME: u32 = 1;
const TYPE_FLOAT: u64 = 1;
const TYPE_INT8: u64 = 3;
const TYPE_INT64: u64 = 7;

const WIRE_VARINT: u8 = 0;
const WIRE_I64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_I32: u8 = 5;

/// One field of a message: its number, and its bytes on the wire (key included).
#[derive(Debug, Clone, Copy)]
struct Field<'a> {
    number: u32,
    wire: u8,
    /// The whole field as it was encoded.
    raw: &'a [u8],
    /// The varint's value, or the length of the length-delimited bytes.
    value: u64,
    /// Where the length-delimited bytes start in `raw`.
    payload: usize,
}

impl<'a> Field<'a> {
    fn bytes(&self) -> Option<&'a [u8]> {
        (self.wire == WIRE_LEN).then(|| &self.raw[self.payload..])
    }

    fn text(&self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The fields of one message, in order; `None` when the bytes are not a well-formed message.
fn parse(buf: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let key = varint(buf, &mut pos)?;
        let number = u32::try_from(key >> 3).ok().filter(|&n| n > 0)?;
        let wire = (key & 7) as u8;
        let (value, payload) = match wire {
            WIRE_VARINT => (varint(buf, &mut pos)?, 0),
            WIRE_I64 => {
                pos += 8;
                (0, 0)
            }
            WIRE_I32 => {
                pos += 4;
                (0, 0)
            }
            WIRE_LEN => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let payload = pos - start;
                pos = pos.checked_add(len)?;
                (len as u64, payload)
            }
            _ => return None,
        };
        if pos > buf.len() {
            return None;
        }
        fields.push(Field {
            number,
            wire,
            raw: &buf[start..pos],
            value,
            payload,
        });
    }
    Some(fields)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_key(out: &mut Vec<u8>, number: u32, wire: u8) {
    put_varint(out, (u64::from(number) << 3) | u64::from(wire));
}

fn put_bytes(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_key(out, number, WIRE_LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A graph node: what the rewrite reads, and its other fields (attributes, name, doc) as bytes.
#[derive(Debug, Clone, Default)]
struct Node<'a> {
    inputs: Vec<String>,
    outputs: Vec<String>,
    op_type: String,
    domain: String,
    /// `(name, integer value)` of the integer attributes.
    ints: Vec<(String, u64)>,
    rest: Vec<&'a [u8]>,
    /// Attributes written by the rewrite, already encoded.
    new_attributes: Vec<Vec<u8>>,
    /// Whether an attribute holds a graph (a subgraph).
    has_subgraph: bool,
    /// Whether `domain` was set by the rewrite (and so is not among `rest`).
    new_domain: bool,
}

impl<'a> Node<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        let mut node = Node::default();
        for field in parse(bytes)? {
            match field.number {
                NODE_INPUT => node.inputs.push(field.text()?.to_string()),
                NODE_OUTPUT => node.outputs.push(field.text()?.to_string()),
                NODE_OP_TYPE => node.op_type = field.text()?.to_string(),
                NODE_DOMAIN => {
                    node.domain = field.text()?.to_string();
                    node.rest.push(field.raw);
                }
                NODE_ATTRIBUTE => {
                    let attribute = parse(field.bytes()?)?;
                    let name = attribute.iter().find(|f| f.number == ATTRIBUTE_NAME);
                    let int = attribute
                        .iter()
                        .find(|f| f.number == ATTRIBUTE_I && f.wire == WIRE_VARINT);
                    if let (Some(name), Some(int)) = (name, int) {
                        node.ints.push((name.text()?.to_string(), int.value));
                    }
                    node.has_subgraph |= attribute
                        .iter()
                        .any(|f| f.number == ATTRIBUTE_G || f.number == ATTRIBUTE_GRAPHS);
                    node.rest.push(field.raw);
                }
                _ => node.rest.push(field.raw),
            }
        }
        Some(node)
    }

    /// A new node of the default domain with the given integer attributes.
    fn new(op_type: &str, inputs: &[&str], output: &str, ints: &[(&str, u64)]) -> Node<'a> {
        let new_attributes = ints
            .iter()
            .map(|&(name, value)| {
                let mut attribute = Vec::new();
                put_bytes(&mut attribute, ATTRIBUTE_NAME, name.as_bytes());
                put_key(&mut attribute, ATTRIBUTE_I, WIRE_VARINT);
                put_varint(&mut attribute, value);
                put_key(&mut attribute, ATTRIBUTE_TYPE, WIRE_VARINT);
                put_varint(&mut attribute, ATTRIBUTE_TYPE_INT);
                attribute
            })
            .collect();
        Node {
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![output.to_string()],
            op_type: op_type.to_string(),
            ints: ints.iter().map(|&(n, v)| (n.to_string(), v)).collect(),
            new_attributes,
            ..Node::default()
        }
    }

    /// The node with a list-of-integers attribute.
    fn with_ints(mut self, name: &str, values: &[i64]) -> Self {
        let mut attribute = Vec::new();
        put_bytes(&mut attribute, ATTRIBUTE_NAME, name.as_bytes());
        for &value in values {
            put_key(&mut attribute, ATTRIBUTE_INTS, WIRE_VARINT);
            put_varint(&mut attribute, value as u64);
        }
        put_key(&mut attribute, ATTRIBUTE_TYPE, WIRE_VARINT);
        put_varint(&mut attribute, ATTRIBUTE_TYPE_INTS);
        self.new_attributes.push(attribute);
        self
    }

    /// The node in an operator domain other than the default one. For new nodes only: a parsed
    /// node keeps its own domain field among `rest`.
    fn in_domain(mut self, domain: &str) -> Self {
        debug_assert!(self.rest.is_empty(), "in_domain on a parsed node");
        self.domain = domain.to_string();
        self.new_domain = true;
        self
    }

    fn int(&self, name: &str) -> Option<u64> {
        self.ints.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }

    /// The node's (first) result, if it is an `op_type` node of `inputs` inputs.
    fn output_of(&self, op_type: &str, inputs: usize) -> Option<&String> {
        self.outputs
            .first()
            .filter(|_| self.is(op_type) && self.inputs.len() == inputs)
    }

    fn is(&self, op_type: &str) -> bool {
        self.op_type == op_type && (self.domain.is_empty() || self.domain == "ai.onnx")
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for input in &self.inputs {
            put_bytes(&mut out, NODE_INPUT, input.as_bytes());
        }
        for output in &self.outputs {
            put_bytes(&mut out, NODE_OUTPUT, output.as_bytes());
        }
        put_bytes(&mut out, NODE_OP_TYPE, self.op_type.as_bytes());
        if self.new_domain {
            put_bytes(&mut out, NODE_DOMAIN, self.domain.as_bytes());
        }
        for raw in &self.rest {
            out.extend_from_slice(raw);
        }
        for attribute in &self.new_attributes {
            put_bytes(&mut out, NODE_ATTRIBUTE, attribute);
        }
        out
    }
}

/// An initializer's element type and dimensions.
#[derive(Debug, Clone)]
struct Tensor {
    data_type: u64,
    dims: Vec<u64>,
    /// The value of a one-element float tensor.
    scalar: Option<f32>,
}

fn tensor(bytes: &[u8]) -> Option<(String, Tensor)> {
    let mut name = None;
    let mut tensor = Tensor {
        data_type: 0,
        dims: Vec::new(),
        scalar: None,
    };
    let mut data: Option<&[u8]> = None;
    for field in parse(bytes)? {
        match (field.number, field.wire) {
            (TENSOR_NAME, _) => name = Some(field.text()?.to_string()),
            (TENSOR_DATA_TYPE, WIRE_VARINT) => tensor.data_type = field.value,
            (TENSOR_DIMS, WIRE_VARINT) => tensor.dims.push(field.value),
            (TENSOR_DIMS, WIRE_LEN) => {
                let packed = field.bytes()?;
                let mut pos = 0;
                while pos < packed.len() {
                    tensor.dims.push(varint(packed, &mut pos)?);
                }
            }
            (TENSOR_RAW_DATA, WIRE_LEN) | (TENSOR_FLOAT_DATA, WIRE_LEN) => data = field.bytes(),
            (TENSOR_FLOAT_DATA, WIRE_I32) => data = field.raw.get(field.raw.len() - 4..),
            _ => {}
        }
    }
    // A scalar or one value: a `[1, 1]` constant would broadcast its product up a rank.
    if tensor.data_type == TYPE_FLOAT
        && tensor.dims.len() <= 1
        && tensor.dims.iter().all(|&d| d == 1)
    {
        tensor.scalar = data
            .and_then(|d| <[u8; 4]>::try_from(d).ok())
            .map(f32::from_le_bytes);
    }
    Some((name?, tensor))
}

/// A graph's fields, and what the rewrites read of them.
struct Graph<'a> {
    fields: Vec<Field<'a>>,
    nodes: Vec<Node<'a>>,
    initializers: HashMap<String, Tensor>,
    outputs: HashSet<String>,
}

impl<'a> Graph<'a> {
    /// `None` when the bytes are not a graph this understands, or when a node holds a subgraph
    /// (whose body may read the outer graph's values by name).
    fn decode(bytes: &'a [u8]) -> Option<Self> {
        let fields = parse(bytes)?;
        let mut nodes = Vec::new();
        let mut initializers = HashMap::new();
        let mut outputs = HashSet::new();
        for field in &fields {
            match field.number {
                GRAPH_NODE => nodes.push(Node::parse(field.bytes()?)?),
                GRAPH_INITIALIZER => {
                    let (name, tensor) = tensor(field.bytes()?)?;
                    initializers.insert(name, tensor);
                }
                GRAPH_OUTPUT => {
                    let info = parse(field.bytes()?)?;
                    if let Some(name) = info.iter().find(|f| f.number == VALUE_INFO_NAME) {
                        outputs.insert(name.text()?.to_string());
                    }
                }
                _ => {}
            }
        }
        if nodes.iter().any(|n: &Node| n.has_subgraph) {
            return None;
        }
        Some(Graph {
            fields,
            nodes,
            initializers,
            outputs,
        })
    }

    /// The graph's bytes with `nodes` in place of its own and `extra` (encoded fields, such as
    /// new initializers) after the rest.
    fn encode(&self, nodes: &[Node], extra: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut nodes_written = false;
        for field in &self.fields {
            if field.number == GRAPH_NODE {
                if !nodes_written {
                    for node in nodes {
                        put_bytes(&mut out, GRAPH_NODE, &node.encode());
                    }
                    nodes_written = true;
                }
            } else {
                out.extend_from_slice(field.raw);
            }
        }
        out.extend_from_slice(extra);
        out
    }
}

/// Which node gives each value.
fn producers<'n>(nodes: &'n [Node]) -> HashMap<&'n str, usize> {
    nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.as_str(), i)))
        .collect()
}

/// The values `Mul(Cast(int8 matrix to float), float scale)` of initializers, as value -> (the
/// int8 matrix, its scale), where `fits(matrix dims, scale dims)`.
fn dequantized(
    nodes: &[Node],
    initializers: &HashMap<String, Tensor>,
    fits: impl Fn(&[u64], &[u64]) -> bool,
) -> HashMap<String, (String, String)> {
    let producer = producers(nodes);
    let mut found = HashMap::new();
    for node in nodes {
        let Some(out) = node.output_of("Mul", 2) else {
            continue;
        };
        let Some(&cast) = producer.get(node.inputs[0].as_str()) else {
            continue;
        };
        let cast = &nodes[cast];
        let matrix = cast.inputs.first().and_then(|t| initializers.get(t));
        let scale = initializers.get(&node.inputs[1]);
        if let (true, Some(matrix), Some(scale)) = (cast.is("Cast"), matrix, scale) {
            if cast.int("to") == Some(TYPE_FLOAT)
                && matrix.data_type == TYPE_INT8
                && matrix.dims.len() == 2
                && scale.data_type == TYPE_FLOAT
                && fits(&matrix.dims, &scale.dims)
            {
                found.insert(
                    out.clone(),
                    (cast.inputs[0].clone(), node.inputs[1].clone()),
                );
            }
        }
    }
    found
}

/// ONNX Runtime's operator domain (`Gelu`).
const CONTRIB_DOMAIN: &str = "com.microsoft";

/// The model with `domain` among its operator sets (at `version`) if it was not: the import is
/// appended (a message's fields may come in any order), so the weights are not copied again.
fn with_opset(mut model: Vec<u8>, domain: &str, version: u64) -> Option<Vec<u8>> {
    let imported = parse(&model)?
        .iter()
        .filter(|f| f.number == MODEL_OPSET_IMPORT)
        .filter_map(|f| parse(f.bytes()?))
        .any(|set| {
            set.iter()
                .any(|f| f.number == OPSET_DOMAIN && f.text() == Some(domain))
        });
    if !imported {
        let mut set = Vec::new();
        put_bytes(&mut set, OPSET_DOMAIN, domain.as_bytes());
        put_key(&mut set, OPSET_VERSION, WIRE_VARINT);
        put_varint(&mut set, version);
        put_bytes(&mut model, MODEL_OPSET_IMPORT, &set);
    }
    Some(model)
}

/// The exporter's erf GELUs, `x · (0.5 · (1 + erf(x / √2)))` in five nodes (`Div`, `Erf`, `Add`,
/// `Mul`, `Mul`; either order of each product's and sum's inputs, `x · (1/√2)` for the division),
/// as the index of the last `Mul` -> `x`. The constants are read from the initializers.
fn gelus(nodes: &[Node], initializers: &HashMap<String, Tensor>) -> HashMap<usize, String> {
    let producer = producers(nodes);
    let constant = |name: &str, value: f32| {
        initializers
            .get(name)
            .and_then(|t| t.scalar)
            .is_some_and(|v| (v - value).abs() <= 1e-6 * value.abs().max(1.0))
    };
    // The node giving `value`, if it is an `op_type` node with `inputs` inputs.
    let made_by = |value: &str, op_type: &str, inputs: usize| {
        producer
            .get(value)
            .map(|&i| &nodes[i])
            .filter(|n| n.output_of(op_type, inputs).is_some())
    };
    // For a two-input node, the input that is not the constant `value`.
    let other_than = |node: &Node, value: f32| -> Option<String> {
        match (
            constant(&node.inputs[0], value),
            constant(&node.inputs[1], value),
        ) {
            (true, false) => Some(node.inputs[1].clone()),
            (false, true) => Some(node.inputs[0].clone()),
            _ => None,
        }
    };
    let mut found = HashMap::new();
    for (index, node) in nodes.iter().enumerate() {
        if node.output_of("Mul", 2).is_none() {
            continue;
        }
        for (x, half) in [(0, 1), (1, 0)] {
            let (x, half) = (&node.inputs[x], &node.inputs[half]);
            let Some(sum) = made_by(half, "Mul", 2).and_then(|n| other_than(n, 0.5)) else {
                continue;
            };
            let Some(erf) = made_by(&sum, "Add", 2).and_then(|n| other_than(n, 1.0)) else {
                continue;
            };
            let Some(erf) = made_by(&erf, "Erf", 1) else {
                continue;
            };
            // What the erf reads: x / √2 or x · (1/√2), of this same x.
            let scaled = made_by(&erf.inputs[0], "Div", 2)
                .filter(|d| constant(&d.inputs[1], std::f32::consts::SQRT_2))
                .map(|d| d.inputs[0].clone())
                .or_else(|| {
                    made_by(&erf.inputs[0], "Mul", 2)
                        .and_then(|m| other_than(m, std::f32::consts::FRAC_1_SQRT_2))
                });
            if scaled.as_ref() == Some(x) {
                found.insert(index, x.clone());
                break;
            }
        }
    }
    found
}

/// Returns the rewritten graph and the counts of its rewrites (`bytes` left empty).
fn rewrite_graph(bytes: &[u8]) -> Option<(Vec<u8>, Streamlined)> {
    let mut graph = Graph::decode(bytes)?;
    let nodes = std::mem::take(&mut graph.nodes);
    let graph_outputs = &graph.outputs;
    let producer = producers(&nodes);
    // value -> (int8 table, its per-row scale).
    let dequantized = dequantized(&nodes, &graph.initializers, |table, scale| {
        scale.len() == 2 && scale[1] == 1 && scale.first() == table.first()
    });

    // NaN guards: Where(IsNaN(s), zero, s) after s = Softmax(...): consumers read s instead.
    // (The IsNaN goes with the dead nodes below once nothing else reads it.) `FastEmbedder`
    // checks at start that a padded empty text still gives a finite vector without them.
    let mut renamed: HashMap<String, String> = HashMap::new();
    let mut removed: HashSet<usize> = HashSet::new();
    for (index, node) in nodes.iter().enumerate() {
        let Some(out) = node.output_of("Where", 3) else {
            continue;
        };
        let Some(&check) = producer.get(node.inputs[0].as_str()) else {
            continue;
        };
        let softmax = producer.get(node.inputs[2].as_str()).map(|&i| &nodes[i]);
        if nodes[check].is("IsNaN")
            && nodes[check].inputs.first() == Some(&node.inputs[2])
            && softmax.is_some_and(|s| s.is("Softmax"))
            && !graph_outputs.contains(out)
        {
            renamed.insert(out.clone(), node.inputs[2].clone());
            removed.insert(index);
        }
    }
    let nan_guards = renamed.len();
    let gelus = gelus(&nodes, &graph.initializers);

    let mut rewritten: Vec<Node> = Vec::with_capacity(nodes.len() + 8);
    let mut int8_lookups = 0;
    for (index, mut node) in nodes.into_iter().enumerate() {
        if removed.contains(&index) {
            continue;
        }
        for input in node.inputs.iter_mut() {
            if let Some(to) = renamed.get(input) {
                *input = to.clone();
            }
        }
        if let (Some(x), Some(out)) = (gelus.get(&index), node.outputs.first()) {
            // Its Div, Erf, Add and first Mul go with the dead nodes below.
            let x = renamed.get(x).unwrap_or(x);
            rewritten.push(Node::new("Gelu", &[x], out, &[]).in_domain(CONTRIB_DOMAIN));
            continue;
        }
        let lookup =
            node.is("Gather") && node.inputs.len() == 2 && node.int("axis").unwrap_or(0) == 0;
        let source = node.inputs.first().and_then(|i| dequantized.get(i));
        match (source.filter(|_| lookup), node.outputs.first().cloned()) {
            (Some((table, scale)), Some(out)) => {
                let ids = node.inputs[1].clone();
                let (rows, row_scales, floats) = (
                    format!("{out}/int8_rows"),
                    format!("{out}/row_scales"),
                    format!("{out}/float_rows"),
                );
                rewritten.push(Node::new("Gather", &[table, &ids], &rows, &[("axis", 0)]));
                rewritten.push(Node::new(
                    "Gather",
                    &[scale, &ids],
                    &row_scales,
                    &[("axis", 0)],
                ));
                rewritten.push(Node::new("Cast", &[&rows], &floats, &[("to", TYPE_FLOAT)]));
                rewritten.push(Node::new("Mul", &[&floats, &row_scales], &out, &[]));
                int8_lookups += 1;
            }
            _ => rewritten.push(node),
        }
    }
    // Nodes whose results nothing reads any more (the whole-table Cast and Mul).
    loop {
        let read: HashSet<&str> = rewritten
            .iter()
            .flat_map(|n| n.inputs.iter().map(String::as_str))
            .chain(graph_outputs.iter().map(String::as_str))
            .collect();
        let dead: HashSet<usize> = rewritten
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                n.outputs
                    .iter()
                    .all(|o| o.is_empty() || !read.contains(o.as_str()))
            })
            .map(|(i, _)| i)
            .collect();
        if dead.is_empty() {
            break;
        }
        let mut index = 0;
        rewritten.retain(|_| {
            index += 1;
            !dead.contains(&(index - 1))
        });
    }

    let out = graph.encode(&rewritten, &[]);
    let counts = Streamlined {
        bytes: Vec::new(),
        int8_lookups,
        nan_guards,
        gelus: gelus.len(),
    };
    Some((out, counts))
}

/// A tensor message: `name`, element type, dimensions and little-endian data.
fn tensor_message(name: &str, data_type: u64, dims: &[u64], raw: &[u8]) -> Vec<u8> {
    let mut tensor = Vec::new();
    for &dim in dims {
        put_key(&mut tensor, TENSOR_DIMS, WIRE_VARINT);
        put_varint(&mut tensor, dim);
    }
    put_key(&mut tensor, TENSOR_DATA_TYPE, WIRE_VARINT);
    put_varint(&mut tensor, data_type);
    put_bytes(&mut tensor, TENSOR_NAME, name.as_bytes());
    put_bytes(&mut tensor, TENSOR_RAW_DATA, raw);
    tensor
}

/// Appends an initializer to a graph's bytes.
fn put_tensor(out: &mut Vec<u8>, name: &str, data_type: u64, dims: &[u64], raw: &[u8]) {
    put_bytes(
        out,
        GRAPH_INITIALIZER,
        &tensor_message(name, data_type, dims, raw),
    );
}

/// Names of the constants [`rewrite_products`] adds.
const FIRST: &str = "starling/int8/first";
const SECOND: &str = "starling/int8/second";
const END: &str = "starling/int8/end";
const TOKENS_AXIS: &str = "starling/int8/tokens_axis";
const ZERO: &str = "starling/int8/zero";
const LAST_AXIS: &str = "starling/int8/last_axis";
const TINY: &str = "starling/int8/tiny";

/// Returns the rewritten graph and the number of products now in integers (see [`int8_products`]);
/// `None` when there is none. `axes_input`: `ReduceMax` takes its axes as an input (operator set
/// 18 on), not as an attribute.
fn rewrite_products(bytes: &[u8], axes_input: bool) -> Option<(Vec<u8>, usize)> {
    let mut graph = Graph::decode(bytes)?;
    if graph.initializers.contains_key(ZERO) {
        return None;
    }
    let nodes = std::mem::take(&mut graph.nodes);
    // value -> (int8 weight [in, out], its scale: one per output column or one in all).
    let weights = dequantized(&nodes, &graph.initializers, |weight, scale| match scale {
        [] | [1] | [1, 1] => true,
        [n] | [1, n] => Some(n) == weight.get(1),
        _ => false,
    });

    let mut rewritten: Vec<Node> = Vec::with_capacity(nodes.len() * 2);
    let mut split: HashSet<String> = HashSet::new();
    let mut products = 0;
    for node in nodes {
        let weight = node
            .output_of("MatMul", 2)
            .and_then(|_| weights.get(&node.inputs[1]));
        let (Some((int8, scale)), Some(out)) = (weight, node.outputs.first().cloned()) else {
            rewritten.push(node);
            continue;
        };
        let states = node.inputs[0].clone();
        let (first, rest) = (format!("{states}/first"), format!("{states}/rest"));
        let (magnitudes, peaks, peak, unit) = (
            format!("{states}/abs"),
            format!("{states}/peaks"),
            format!("{states}/peak"),
            format!("{states}/unit"),
        );
        let (quantized, quantized_scale, quantized_zero) = (
            format!("{states}/q"),
            format!("{states}/q_scale"),
            format!("{states}/q_zero"),
        );
        if split.insert(states.clone()) {
            rewritten.push(Node::new(
                "Slice",
                &[&states, FIRST, SECOND, TOKENS_AXIS],
                &first,
                &[],
            ));
            rewritten.push(Node::new(
                "Slice",
                &[&states, SECOND, END, TOKENS_AXIS],
                &rest,
                &[],
            ));
            // Each token's row over its largest magnitude, so that the one scale of
            // `DynamicQuantizeLinear` spans every row's range, not the batch's widest.
            rewritten.push(Node::new("Abs", &[&rest], &magnitudes, &[]));
            rewritten.push(if axes_input {
                Node::new(
                    "ReduceMax",
                    &[&magnitudes, LAST_AXIS],
                    &peaks,
                    &[("keepdims", 1)],
                )
            } else {
                Node::new("ReduceMax", &[&magnitudes], &peaks, &[("keepdims", 1)])
                    .with_ints("axes", &[-1])
            });
            rewritten.push(Node::new("Max", &[&peaks, TINY], &peak, &[]));
            rewritten.push(Node::new("Div", &[&rest, &peak], &unit, &[]));
            let mut quantize = Node::new("DynamicQuantizeLinear", &[&unit], &quantized, &[]);
            quantize
                .outputs
                .extend([quantized_scale.clone(), quantized_zero.clone()]);
            rewritten.push(quantize);
        }
        let (first_out, integers, floats, scales, rest_unit, rest_out) = (
            format!("{out}/first"),
            format!("{out}/int32"),
            format!("{out}/float"),
            format!("{out}/scales"),
            format!("{out}/rest_unit"),
            format!("{out}/rest"),
        );
        rewritten.push(Node::new(
            "MatMul",
            &[&first, &node.inputs[1]],
            &first_out,
            &[],
        ));
        rewritten.push(Node::new(
            "MatMulInteger",
            &[&quantized, int8, &quantized_zero, ZERO],
            &integers,
            &[],
        ));
        rewritten.push(Node::new(
            "Cast",
            &[&integers],
            &floats,
            &[("to", TYPE_FLOAT)],
        ));
        rewritten.push(Node::new("Mul", &[&quantized_scale, scale], &scales, &[]));
        rewritten.push(Node::new("Mul", &[&floats, &scales], &rest_unit, &[]));
        rewritten.push(Node::new("Mul", &[&rest_unit, &peak], &rest_out, &[]));
        rewritten.push(Node::new(
            "Concat",
            &[&first_out, &rest_out],
            &out,
            &[("axis", 1)],
        ));
        products += 1;
    }
    if products == 0 {
        return None;
    }
    let mut constants = Vec::new();
    put_tensor(&mut constants, FIRST, TYPE_INT64, &[1], &0i64.to_le_bytes());
    put_tensor(
        &mut constants,
        SECOND,
        TYPE_INT64,
        &[1],
        &1i64.to_le_bytes(),
    );
    put_tensor(
        &mut constants,
        END,
        TYPE_INT64,
        &[1],
        &i64::MAX.to_le_bytes(),
    );
    put_tensor(
        &mut constants,
        TOKENS_AXIS,
        TYPE_INT64,
        &[1],
        &1i64.to_le_bytes(),
    );
    put_tensor(&mut constants, ZERO, TYPE_INT8, &[], &[0]);
    if axes_input {
        put_tensor(
            &mut constants,
            LAST_AXIS,
            TYPE_INT64,
            &[1],
            &(-1i64).to_le_bytes(),
        );
    }
    // A row of zeros stays zeros rather than 0/0.
    put_tensor(
        &mut constants,
        TINY,
        TYPE_FLOAT,
        &[],
        &1e-30f32.to_le_bytes(),
    );
    let out = graph.encode(&rewritten, &constants);
    Some((out, products))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor_bytes(name: &str, data_type: u64, dims: &[u64]) -> Vec<u8> {
        tensor_message(name, data_type, dims, &[0u8; 4])
    }

    /// A model with a dequantized table looked up by a Gather and a guarded softmax.
    fn model() -> Vec<u8> {
        let mut graph = Vec::new();
        let nodes = [
            Node::new("Cast", &["table_q"], "table_f", &[("to", TYPE_FLOAT)]),
            Node::new("Mul", &["table_f", "table_scale"], "table", &[]),
            Node::new("Gather", &["table", "ids"], "rows", &[]),
            Node::new("Softmax", &["rows"], "p", &[]),
            Node::new("IsNaN", &["p"], "nan", &[]),
            Node::new("Where", &["nan", "zero", "p"], "guarded", &[]),
            Node::new("Identity", &["guarded"], "out", &[]),
        ];
        for node in &nodes {
            put_bytes(&mut graph, GRAPH_NODE, &node.encode());
        }
        put_bytes(&mut graph, 2, b"g");
        put_bytes(
            &mut graph,
            GRAPH_INITIALIZER,
            &tensor_bytes("table_q", TYPE_INT8, &[10, 4]),
        );
        put_bytes(
            &mut graph,
            GRAPH_INITIALIZER,
            &tensor_bytes("table_scale", TYPE_FLOAT, &[10, 1]),
        );
        let mut output = Vec::new();
        put_bytes(&mut output, VALUE_INFO_NAME, b"out");
        put_bytes(&mut graph, GRAPH_OUTPUT, &output);
        let mut model = Vec::new();
        put_key(&mut model, 1, WIRE_VARINT);
        put_varint(&mut model, 10);
        put_bytes(&mut model, MODEL_GRAPH, &graph);
        put_bytes(&mut model, 2, b"producer");
        model
    }

    /// The payloads of the model's graph fields numbered `number` (nodes, initializers...).
    fn graph_fields(model: &[u8], number: u32) -> Vec<Vec<u8>> {
        let fields = parse(model).unwrap();
        let graph = fields.iter().find(|f| f.number == MODEL_GRAPH).unwrap();
        parse(graph.bytes().unwrap())
            .unwrap()
            .iter()
            .filter(|f| f.number == number)
            .map(|f| f.bytes().unwrap().to_vec())
            .collect()
    }

    fn initializers_of(model: &[u8]) -> Vec<(String, Tensor)> {
        graph_fields(model, GRAPH_INITIALIZER)
            .iter()
            .map(|bytes| tensor(bytes).unwrap())
            .collect()
    }

    fn nodes_of(model: &[u8]) -> Vec<(String, Vec<String>, Vec<String>)> {
        graph_fields(model, GRAPH_NODE)
            .iter()
            .map(|bytes| {
                let n = Node::parse(bytes).unwrap();
                (n.op_type, n.inputs, n.outputs)
            })
            .collect()
    }

    #[test]
    fn looks_rows_up_in_the_int8_table_and_drops_the_nan_guard() {
        let done = streamline(&model()).expect("rewritten");
        assert_eq!((done.int8_lookups, done.nan_guards), (1, 1));
        let ops: Vec<String> = nodes_of(&done.bytes).into_iter().map(|n| n.0).collect();
        assert_eq!(
            ops,
            ["Gather", "Gather", "Cast", "Mul", "Softmax", "Identity"]
        );
        let nodes = nodes_of(&done.bytes);
        assert_eq!(nodes[0].1, ["table_q", "ids"]);
        assert_eq!(nodes[1].1, ["table_scale", "ids"]);
        assert_eq!(nodes[3].2, ["rows"]);
        assert_eq!(nodes[5].1, ["p"], "the guard's reader reads the softmax");
        // The fields around the graph are kept.
        let fields = parse(&done.bytes).unwrap();
        assert_eq!(
            fields.iter().map(|f| f.number).collect::<Vec<_>>(),
            [1, 7, 2]
        );
        assert_eq!(streamline(&done.bytes), None, "nothing left to change");
    }

    /// `model()` with `extra` fields (number, payload) appended to its graph.
    fn model_with(extra: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for field in parse(&model()).unwrap() {
            if field.number != MODEL_GRAPH {
                out.extend_from_slice(field.raw);
                continue;
            }
            let mut graph = field.bytes().unwrap().to_vec();
            for (number, payload) in extra {
                put_bytes(&mut graph, *number, payload);
            }
            put_bytes(&mut out, MODEL_GRAPH, &graph);
        }
        out
    }

    #[test]
    fn a_guard_read_elsewhere_keeps_its_check_and_odd_nodes_do_not_panic() {
        let no_outputs = |op: &str, inputs: &[&str]| Node {
            op_type: op.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            ..Node::default()
        };
        let mut output = Vec::new();
        put_bytes(&mut output, VALUE_INFO_NAME, b"nan_copy");
        let model = model_with(&[
            // Another reader of the IsNaN, whose result the graph gives out.
            (
                GRAPH_NODE,
                Node::new("Identity", &["nan"], "nan_copy", &[]).encode(),
            ),
            (GRAPH_OUTPUT, output),
            (
                GRAPH_NODE,
                no_outputs("Mul", &["table_f", "table_scale"]).encode(),
            ),
            (
                GRAPH_NODE,
                no_outputs("Where", &["nan", "zero", "p"]).encode(),
            ),
            (GRAPH_NODE, no_outputs("Gather", &["table", "ids"]).encode()),
        ]);
        let done = streamline(&model).expect("rewritten");
        let ops: Vec<String> = nodes_of(&done.bytes).into_iter().map(|n| n.0).collect();
        assert!(ops.contains(&"IsNaN".to_string()), "{ops:?}");
        assert_eq!(done.nan_guards, 1);
    }

    #[test]
    fn a_graph_with_a_subgraph_is_left_alone() {
        let mut attribute = Vec::new();
        put_bytes(&mut attribute, ATTRIBUTE_NAME, b"then_branch");
        put_bytes(&mut attribute, ATTRIBUTE_G, b"");
        let mut node = Node::new("If", &["cond"], "branch", &[]);
        let mut encoded = Vec::new();
        put_bytes(&mut encoded, NODE_ATTRIBUTE, &attribute);
        node.rest.push(&encoded);
        assert_eq!(
            streamline(&model_with(&[(GRAPH_NODE, node.encode())])),
            None
        );
    }

    /// A model with one product of token states and an int8 weight, dequantized per column.
    fn product_model(scale_dims: &[u64]) -> Vec<u8> {
        let mut graph = Vec::new();
        let nodes = [
            Node::new("LayerNormalization", &["x", "g", "b"], "states", &[]),
            Node::new("Cast", &["w_q"], "w_f", &[("to", TYPE_FLOAT)]),
            Node::new("Mul", &["w_f", "w_scale"], "w", &[]),
            Node::new("MatMul", &["states", "w"], "y", &[]),
            Node::new("Add", &["y", "bias"], "out", &[]),
        ];
        for node in &nodes {
            put_bytes(&mut graph, GRAPH_NODE, &node.encode());
        }
        put_bytes(
            &mut graph,
            GRAPH_INITIALIZER,
            &tensor_bytes("w_q", TYPE_INT8, &[4, 3]),
        );
        put_bytes(
            &mut graph,
            GRAPH_INITIALIZER,
            &tensor_bytes("w_scale", TYPE_FLOAT, scale_dims),
        );
        let mut output = Vec::new();
        put_bytes(&mut output, VALUE_INFO_NAME, b"out");
        put_bytes(&mut graph, GRAPH_OUTPUT, &output);
        let mut model = Vec::new();
        put_bytes(&mut model, MODEL_GRAPH, &graph);
        model
    }

    /// `product_model` importing the default operator set at `version`.
    fn product_model_at(scale_dims: &[u64], version: u64) -> Vec<u8> {
        let mut model = product_model(scale_dims);
        let mut set = Vec::new();
        put_bytes(&mut set, OPSET_DOMAIN, b"");
        put_key(&mut set, OPSET_VERSION, WIRE_VARINT);
        put_varint(&mut set, version);
        put_bytes(&mut model, MODEL_OPSET_IMPORT, &set);
        model
    }

    /// The `axes` and `keepdims` attributes of the model's `ReduceMax`.
    fn reduce_max_attributes(model: &[u8]) -> (Vec<i64>, Option<u64>) {
        let nodes = graph_fields(model, GRAPH_NODE);
        let node = nodes
            .iter()
            .find(|bytes| Node::parse(bytes).unwrap().op_type == "ReduceMax")
            .unwrap();
        let mut axes = Vec::new();
        for field in parse(node).unwrap() {
            if field.number != NODE_ATTRIBUTE {
                continue;
            }
            let attribute = parse(field.bytes().unwrap()).unwrap();
            if attribute
                .iter()
                .any(|f| f.number == ATTRIBUTE_NAME && f.text() == Some("axes"))
            {
                axes.extend(
                    attribute
                        .iter()
                        .filter(|f| f.number == ATTRIBUTE_INTS)
                        .map(|f| f.value as i64),
                );
            }
        }
        (axes, Node::parse(node).unwrap().int("keepdims"))
    }

    #[test]
    fn products_with_int8_weights_go_to_integers_but_the_first_tokens_row() {
        let done = int8_products(&product_model(&[1, 3])).expect("rewritten");
        assert_eq!(done.products, 1);
        let nodes = nodes_of(&done.bytes);
        let ops: Vec<&str> = nodes.iter().map(|n| n.0.as_str()).collect();
        assert_eq!(
            ops,
            [
                "LayerNormalization",
                "Cast",
                "Mul",
                "Slice",
                "Slice",
                "Abs",
                "ReduceMax",
                "Max",
                "Div",
                "DynamicQuantizeLinear",
                "MatMul",
                "MatMulInteger",
                "Cast",
                "Mul",
                "Mul",
                "Mul",
                "Concat",
                "Add"
            ]
        );
        // [CLS]'s row: the float weight; the others: the int8 weight as stored, its scale per column.
        assert_eq!(nodes[3].1, ["states", FIRST, SECOND, TOKENS_AXIS]);
        assert_eq!(nodes[4].1, ["states", SECOND, END, TOKENS_AXIS]);
        // Each row over its own peak is what is quantised; the product is scaled back by it.
        assert_eq!(nodes[5].1, ["states/rest"]);
        assert_eq!(
            nodes[6].1,
            ["states/abs"],
            "axes as an attribute before opset 18"
        );
        assert_eq!(nodes[7].1, ["states/peaks", TINY]);
        assert_eq!(nodes[8].1, ["states/rest", "states/peak"]);
        assert_eq!(nodes[9].1, ["states/unit"]);
        assert_eq!(nodes[9].2.len(), 3, "values, scale and zero point");
        assert_eq!(nodes[10].1, ["states/first", "w"]);
        assert_eq!(nodes[11].1, ["states/q", "w_q", "states/q_zero", ZERO]);
        assert_eq!(nodes[13].1, ["states/q_scale", "w_scale"]);
        assert_eq!(nodes[14].1, ["y/float", "y/scales"]);
        assert_eq!(nodes[15].1, ["y/rest_unit", "states/peak"]);
        assert_eq!(nodes[16].1, ["y/first", "y/rest"]);
        assert_eq!(
            nodes[16].2,
            ["y"],
            "the product keeps its name for its readers"
        );
        let reduce = reduce_max_attributes(&done.bytes);
        assert_eq!(reduce, (vec![-1], Some(1)), "last axis, kept");
        // The constants are there, once; the model is not rewritten twice.
        let names: Vec<String> = initializers_of(&done.bytes)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        for name in [FIRST, SECOND, END, TOKENS_AXIS, ZERO, TINY] {
            assert_eq!(names.iter().filter(|n| *n == name).count(), 1, "{name}");
        }
        assert!(!names.iter().any(|n| n == LAST_AXIS), "only from opset 18");
        assert_eq!(int8_products(&done.bytes), None);
        // A scale per tensor is a scale per column too.
        assert!(int8_products(&product_model(&[])).is_some());
    }

    #[test]
    fn from_opset_18_the_peaks_take_their_axis_as_an_input() {
        assert_eq!(default_opset(&product_model_at(&[1, 3], 18)), Some(18));
        assert_eq!(default_opset(&product_model(&[1, 3])), None);
        let done = int8_products(&product_model_at(&[1, 3], 18)).expect("rewritten");
        let nodes = nodes_of(&done.bytes);
        let reduce = nodes.iter().find(|n| n.0 == "ReduceMax").unwrap();
        assert_eq!(reduce.1, ["states/abs", LAST_AXIS]);
        assert_eq!(reduce_max_attributes(&done.bytes), (vec![], Some(1)));
        let axis = initializers_of(&done.bytes)
            .into_iter()
            .find(|(name, _)| name == LAST_AXIS)
            .expect("the axis constant")
            .1;
        assert_eq!((axis.data_type, axis.dims), (TYPE_INT64, vec![1]));
        let older = int8_products(&product_model_at(&[1, 3], 17)).expect("rewritten");
        assert_eq!(reduce_max_attributes(&older.bytes), (vec![-1], Some(1)));
    }

    /// A scalar float initializer.
    fn scalar(name: &str, value: f32) -> Vec<u8> {
        tensor_message(name, TYPE_FLOAT, &[], &value.to_le_bytes())
    }

    /// How a test GELU is written.
    #[derive(Clone, Copy)]
    struct GeluForm {
        /// The divisor of `x` (√2 in the exporter's form).
        sqrt2: f32,
        /// The halving constant (0.5).
        half: f32,
        /// Each product's and sum's inputs the other way round.
        swapped: bool,
        /// `x · (1/√2)` instead of `x / √2`.
        multiplied: bool,
        /// The `Erf` result also read by another node.
        erf_read_elsewhere: bool,
    }

    const EXPORTED: GeluForm = GeluForm {
        sqrt2: std::f32::consts::SQRT_2,
        half: 0.5,
        swapped: false,
        multiplied: false,
        erf_read_elsewhere: false,
    };

    /// A model holding an erf GELU of `x` written as `form` says.
    fn gelu_model(form: GeluForm) -> Vec<u8> {
        let pair = |a: &'static str, b: &'static str| if form.swapped { [b, a] } else { [a, b] };
        let mut graph = Vec::new();
        let mut nodes = vec![
            Node::new("Add", &["h", "bias"], "x", &[]),
            if form.multiplied {
                Node::new("Mul", &pair("x", "sqrt2"), "t", &[])
            } else {
                Node::new("Div", &["x", "sqrt2"], "t", &[])
            },
            Node::new("Erf", &["t"], "e", &[]),
            Node::new("Add", &pair("e", "one"), "g", &[]),
            Node::new("Mul", &pair("g", "half"), "hg", &[]),
            Node::new("Mul", &pair("x", "hg"), "gelu", &[]),
            Node::new("Identity", &["gelu"], "out", &[]),
        ];
        if form.erf_read_elsewhere {
            nodes.push(Node::new("Identity", &["e"], "out2", &[]));
        }
        for node in &nodes {
            put_bytes(&mut graph, GRAPH_NODE, &node.encode());
        }
        let divisor = if form.multiplied {
            1.0 / form.sqrt2
        } else {
            form.sqrt2
        };
        for (name, value) in [("sqrt2", divisor), ("one", 1.0), ("half", form.half)] {
            put_bytes(&mut graph, GRAPH_INITIALIZER, &scalar(name, value));
        }
        for name in ["out", "out2"] {
            let mut output = Vec::new();
            put_bytes(&mut output, VALUE_INFO_NAME, name.as_bytes());
            put_bytes(&mut graph, GRAPH_OUTPUT, &output);
        }
        let mut model = Vec::new();
        put_bytes(&mut model, MODEL_GRAPH, &graph);
        let mut set = Vec::new();
        put_bytes(&mut set, OPSET_DOMAIN, b"");
        put_key(&mut set, OPSET_VERSION, WIRE_VARINT);
        put_varint(&mut set, 17);
        put_bytes(&mut model, MODEL_OPSET_IMPORT, &set);
        model
    }

    /// The operator sets a model imports, as (domain, version).
    fn opsets(model: &[u8]) -> Vec<(String, u64)> {
        parse(model)
            .unwrap()
            .iter()
            .filter(|f| f.number == MODEL_OPSET_IMPORT)
            .map(|f| {
                let set = parse(f.bytes().unwrap()).unwrap();
                let domain = set.iter().find(|f| f.number == OPSET_DOMAIN).unwrap();
                let version = set.iter().find(|f| f.number == OPSET_VERSION).unwrap();
                (domain.text().unwrap().to_string(), version.value)
            })
            .collect()
    }

    #[test]
    fn the_five_node_gelu_becomes_one() {
        let forms = [
            EXPORTED,
            GeluForm {
                swapped: true,
                ..EXPORTED
            },
            GeluForm {
                multiplied: true,
                ..EXPORTED
            },
        ];
        for (index, form) in forms.into_iter().enumerate() {
            let done = streamline(&gelu_model(form)).expect("rewritten");
            assert_eq!((done.gelus, done.nan_guards, done.int8_lookups), (1, 0, 0));
            let nodes = nodes_of(&done.bytes);
            let ops: Vec<&str> = nodes.iter().map(|n| n.0.as_str()).collect();
            assert_eq!(ops, ["Add", "Gelu", "Identity"], "form {index}");
            assert_eq!(
                (&nodes[1].1[..], &nodes[1].2[..]),
                (&["x".to_string()][..], &["gelu".to_string()][..])
            );
            let domains: Vec<String> = graph_fields(&done.bytes, GRAPH_NODE)
                .iter()
                .map(|bytes| Node::parse(bytes).unwrap())
                .filter(|n| n.op_type == "Gelu")
                .map(|n| n.domain)
                .collect();
            assert_eq!(domains, [CONTRIB_DOMAIN]);
            assert_eq!(
                opsets(&done.bytes),
                [("".to_string(), 17), (CONTRIB_DOMAIN.to_string(), 1)]
            );
            assert_eq!(streamline(&done.bytes), None, "nothing left to change");
        }
        // Other constants are another function: left alone.
        for form in [
            GeluForm {
                sqrt2: 1.5,
                ..EXPORTED
            },
            GeluForm {
                half: 0.4,
                ..EXPORTED
            },
        ] {
            assert_eq!(streamline(&gelu_model(form)), None);
        }
        // An intermediate value read elsewhere stays computed for its other reader.
        let shared = streamline(&gelu_model(GeluForm {
            erf_read_elsewhere: true,
            ..EXPORTED
        }))
        .expect("rewritten");
        let ops: Vec<String> = nodes_of(&shared.bytes).into_iter().map(|n| n.0).collect();
        assert_eq!(ops, ["Add", "Div", "Erf", "Gelu", "Identity", "Identity"]);
        // An opset already imported is not imported twice.
        let model = gelu_model(EXPORTED);
        let twice = with_opset(
            with_opset(model.clone(), CONTRIB_DOMAIN, 1).unwrap(),
            CONTRIB_DOMAIN,
            1,
        )
        .unwrap();
        assert_eq!(opsets(&twice).len(), 2);
        // The default operator set is found whichever domain is imported first.
        let mut contrib_first = Vec::new();
        let mut set = Vec::new();
        put_bytes(&mut set, OPSET_DOMAIN, CONTRIB_DOMAIN.as_bytes());
        put_key(&mut set, OPSET_VERSION, WIRE_VARINT);
        put_varint(&mut set, 1);
        put_bytes(&mut contrib_first, MODEL_OPSET_IMPORT, &set);
        contrib_first.extend_from_slice(&model);
        assert_eq!(default_opset(&contrib_first), Some(17));
    }

    #[test]
    fn only_one_value_is_a_scalar() {
        let one = |dims: &[u64]| {
            tensor(&tensor_message(
                "c",
                TYPE_FLOAT,
                dims,
                &0.5f32.to_le_bytes(),
            ))
            .unwrap()
            .1
            .scalar
        };
        assert_eq!(one(&[]), Some(0.5));
        assert_eq!(one(&[1]), Some(0.5));
        assert_eq!(one(&[1, 1]), None, "a rank-2 constant broadcasts");
        // `float_data` instead of `raw_data`, packed or as one fixed32.
        let mut packed = Vec::new();
        put_key(&mut packed, TENSOR_DATA_TYPE, WIRE_VARINT);
        put_varint(&mut packed, TYPE_FLOAT);
        put_bytes(&mut packed, TENSOR_NAME, b"c");
        put_bytes(&mut packed, TENSOR_FLOAT_DATA, &0.5f32.to_le_bytes());
        assert_eq!(tensor(&packed).unwrap().1.scalar, Some(0.5));
        let mut fixed = Vec::new();
        put_key(&mut fixed, TENSOR_DATA_TYPE, WIRE_VARINT);
        put_varint(&mut fixed, TYPE_FLOAT);
        put_bytes(&mut fixed, TENSOR_NAME, b"c");
        put_key(&mut fixed, TENSOR_FLOAT_DATA, WIRE_I32);
        fixed.extend_from_slice(&0.5f32.to_le_bytes());
        assert_eq!(tensor(&fixed).unwrap().1.scalar, Some(0.5));
    }

    #[test]
    fn products_are_left_alone_unless_the_weight_is_int8_with_a_column_scale() {
        // A scale per row (as a word table's) or of another width: not this pattern.
        assert_eq!(int8_products(&product_model(&[4, 1])), None);
        assert_eq!(int8_products(&product_model(&[1, 5])), None);
        // No product at all, and bytes that are no model.
        assert_eq!(int8_products(&model()), None);
        assert_eq!(int8_products(b"not a model"), None);
    }

    #[test]
    fn leaves_other_bytes_alone() {
        assert_eq!(streamline(b"not a model"), None);
        assert_eq!(streamline(&[]), None);
        let mut truncated = model();
        truncated.truncate(truncated.len() - 3);
        assert_eq!(streamline(&truncated), None);
    }
}
