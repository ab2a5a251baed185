//! The few protobuf messages of ONNX that an exported model needs, written by hand: varints and
//! length-delimited fields (protobuf's wire format), each message built into its own buffer and
//! nested as bytes. Field numbers are onnx/onnx's `onnx/onnx.proto`; each is named where it is
//! used.

/// Protobuf wire types.
const VARINT: u64 = 0;
const LEN: u64 = 2;

/// One message being written; fields are appended in the order the caller gives.
#[derive(Clone, Debug, Default)]
pub struct Msg(Vec<u8>);

impl Msg {
    pub fn new() -> Msg {
        Msg::default()
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u64) {
        self.varint((u64::from(field) << 3) | wire);
    }

    /// An `int32`, `int64` or enum field (a negative number takes ten bytes, as protobuf says).
    pub fn int(mut self, field: u32, v: i64) -> Msg {
        self.key(field, VARINT);
        self.varint(v as u64);
        self
    }

    /// A `bytes` field.
    pub fn bytes(mut self, field: u32, b: &[u8]) -> Msg {
        self.key(field, LEN);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    /// A `string` field.
    pub fn str(self, field: u32, s: &str) -> Msg {
        self.bytes(field, s.as_bytes())
    }

    /// An embedded message.
    pub fn msg(self, field: u32, m: Msg) -> Msg {
        self.bytes(field, &m.0)
    }

    /// Each of `ms` as a repeated embedded message.
    pub fn msgs(self, field: u32, ms: impl IntoIterator<Item = Msg>) -> Msg {
        ms.into_iter().fold(self, |acc, m| acc.msg(field, m))
    }

    /// The encoded message.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// `TensorProto.DataType` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    Float = 1,
    Int64 = 7,
    String = 8,
    Double = 11,
}

/// A constant tensor (`TensorProto`): dims = 1, data_type = 2, string_data = 6, name = 8,
/// raw_data = 9 (fixed-width little-endian, for every type but strings).
pub fn tensor(name: &str, dims: &[usize], dtype: DataType, raw: &[u8]) -> Msg {
    dims.iter()
        .fold(Msg::new(), |m, &d| m.int(1, d as i64))
        .int(2, dtype as i64)
        .str(8, name)
        .bytes(9, raw)
}

/// A constant tensor of strings, shape [len].
pub fn string_tensor(name: &str, values: &[String]) -> Msg {
    let m = Msg::new()
        .int(1, values.len() as i64)
        .int(2, DataType::String as i64);
    values.iter().fold(m, |m, v| m.str(6, v)).str(8, name)
}

/// A dimension (`TensorShapeProto.Dimension`): dim_value = 1 or dim_param = 2.
#[derive(Clone, Copy, Debug)]
pub enum Dim<'a> {
    Fixed(usize),
    Named(&'a str),
}

/// A graph input or output (`ValueInfoProto`: name = 1, type = 2) of tensor type
/// (`TypeProto.tensor_type` = 1; `TypeProto.Tensor`: elem_type = 1, shape = 2;
/// `TensorShapeProto`: dim = 1).
pub fn value_info(name: &str, dtype: DataType, dims: &[Dim]) -> Msg {
    let shape = Msg::new().msgs(
        1,
        dims.iter().map(|d| match *d {
            Dim::Fixed(n) => Msg::new().int(1, n as i64),
            Dim::Named(s) => Msg::new().str(2, s),
        }),
    );
    let tensor = Msg::new().int(1, dtype as i64).msg(2, shape);
    Msg::new().str(1, name).msg(2, Msg::new().msg(1, tensor))
}

/// An attribute (`AttributeProto`: name = 1, type = 20, and the value's field).
#[derive(Clone, Debug)]
pub enum Attr<'a> {
    /// `i` = 3, type INT = 2.
    Int(&'a str, i64),
    /// `ints` = 8, type INTS = 7.
    Ints(&'a str, Vec<i64>),
    /// `strings` = 9, type STRINGS = 8.
    Strings(&'a str, Vec<String>),
}

impl Attr<'_> {
    fn encode(&self) -> Msg {
        match self {
            Attr::Int(name, v) => Msg::new().str(1, name).int(20, 2).int(3, *v),
            Attr::Ints(name, vs) => vs
                .iter()
                .fold(Msg::new().str(1, name).int(20, 7), |m, &v| m.int(8, v)),
            Attr::Strings(name, vs) => vs
                .iter()
                .fold(Msg::new().str(1, name).int(20, 8), |m, v| m.str(9, v)),
        }
    }
}

/// A node (`NodeProto`: input = 1, output = 2, name = 3, op_type = 4, attribute = 5,
/// domain = 7).
pub fn node(domain: &str, op: &str, inputs: &[&str], output: &str, attrs: &[Attr]) -> Msg {
    let m = inputs.iter().fold(Msg::new(), |m, i| m.str(1, i));
    let m = m.str(2, output).str(3, output).str(4, op);
    let m = m.msgs(5, attrs.iter().map(Attr::encode));
    match domain {
        "" => m,
        d => m.str(7, d),
    }
}

/// A key and value (`StringStringEntryProto`: key = 1, value = 2).
pub fn entry(key: &str, value: &str) -> Msg {
    Msg::new().str(1, key).str(2, value)
}

/// An operator set imported (`OperatorSetIdProto`: domain = 1, version = 2).
pub fn opset(domain: &str, version: i64) -> Msg {
    Msg::new().str(1, domain).int(2, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields_encode_as_protobuf_does() {
        // Protobuf's own examples: 150 in field 1 is 08 96 01; "testing" in field 2 is
        // 12 07 74 65 73 74 69 6e 67.
        assert_eq!(Msg::new().int(1, 150).into_bytes(), [0x08, 0x96, 0x01]);
        assert_eq!(
            Msg::new().str(2, "testing").into_bytes(),
            b"\x12\x07testing".to_vec()
        );
        // A negative int64 takes ten bytes.
        let neg = Msg::new().int(1, -1).into_bytes();
        assert_eq!(neg.len(), 11);
        assert_eq!(neg[10], 0x01);
        // A field number above 15 takes two bytes of key.
        assert_eq!(Msg::new().int(20, 2).into_bytes(), [0xa0, 0x01, 0x02]);
    }

    #[test]
    fn a_nested_message_is_its_length_then_its_bytes() {
        let inner = Msg::new().int(1, 150);
        assert_eq!(
            Msg::new().msg(3, inner).into_bytes(),
            [0x1a, 0x03, 0x08, 0x96, 0x01]
        );
    }
}
