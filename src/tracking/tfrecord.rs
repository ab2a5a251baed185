//! The bytes of TensorBoard's event files: TFRecord framing (a length and the data, each with a
//! masked CRC-32C), and the few protocol-buffer messages a scalar and the HParams plugin need,
//! encoded by hand (`tensorflow/core/util/event.proto`, `summary.proto`,
//! `tensorboard/plugins/hparams/plugin_data.proto`). Also the reading back of what a study
//! wrote before, so that a resume adds only what is new.

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), which TFRecord uses; not the CRC-32 of
/// zip and PNG that `crc32fast` computes.
pub fn crc32c(bytes: &[u8]) -> u32 {
    const fn table() -> [u32; 256] {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    }
    const TABLE: [u32; 256] = table();
    !bytes.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8)
    })
}

/// TFRecord's masked CRC: rotated and offset, so that a CRC of data holding CRCs stays strong.
fn masked(bytes: &[u8]) -> u32 {
    let c = crc32c(bytes);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One record: length, its masked CRC, the data, its masked CRC.
pub fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked(data).to_le_bytes());
    out
}

/// The records of `bytes`, up to the first one torn or damaged (a file being written, or cut by
/// a crash): what follows it is not trusted.
pub fn records(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = vec![];
    let mut rest = bytes;
    while rest.len() >= 12 {
        let (len, crc) = (&rest[..8], &rest[8..12]);
        let n = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
        if masked(len).to_le_bytes() != crc || n > rest.len().saturating_sub(16) {
            break;
        }
        let data = &rest[12..12 + n];
        if masked(data).to_le_bytes() != rest[12 + n..16 + n] {
            break;
        }
        out.push(data);
        rest = &rest[16 + n..];
    }
    out
}

/// A protocol-buffer message being written.
#[derive(Default)]
pub struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    pub fn int(mut self, field: u32, v: u64) -> Message {
        self.key(field, 0);
        self.varint(v);
        self
    }

    pub fn double(mut self, field: u32, v: f64) -> Message {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn float(mut self, field: u32, v: f32) -> Message {
        self.key(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bytes(mut self, field: u32, v: &[u8]) -> Message {
        self.key(field, 2);
        self.varint(v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }

    pub fn message(self, field: u32, m: Message) -> Message {
        self.bytes(field, &m.0)
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// A field of a message read back: its number and, for the kinds read here, its value.
pub enum Field<'a> {
    Int(u32, u64),
    Bytes(u32, &'a [u8]),
    /// A fixed-width field (double, float), skipped.
    Fixed(u32),
}

/// The fields of the message `bytes`, up to the first that does not parse.
pub fn fields(mut bytes: &[u8]) -> Vec<Field<'_>> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&first, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(first & 0x7f) << shift;
            if first < 0x80 {
                return Some(v);
            }
        }
        None
    }
    let mut out = vec![];
    while let Some(key) = varint(&mut bytes) {
        let field = (key >> 3) as u32;
        let f = match key & 7 {
            0 => varint(&mut bytes).map(|v| Field::Int(field, v)),
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                (bytes.len() >= n).then(|| {
                    bytes = &bytes[n..];
                    Field::Fixed(field)
                })
            }
            2 => varint(&mut bytes)
                .map(|n| n as usize)
                .filter(|&n| n <= bytes.len())
                .map(|n| {
                    let (v, rest) = bytes.split_at(n);
                    bytes = rest;
                    Field::Bytes(field, v)
                }),
            _ => None,
        };
        match f {
            Some(f) => out.push(f),
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_values() {
        // RFC 3720 (iSCSI), appendix B.4, and the catalogue's check value of "123456789".
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn records_read_back_and_stop_at_damage() {
        let mut file = record(b"first");
        file.extend(record(b""));
        file.extend(record(b"third one"));
        assert_eq!(records(&file), [&b"first"[..], b"", b"third one"]);
        // A torn last record, then a damaged byte in the second.
        assert_eq!(records(&file[..file.len() - 3]).len(), 2);
        let n = record(b"first").len();
        file[n + 2] ^= 1;
        assert_eq!(records(&file), [&b"first"[..]]);
    }

    #[test]
    fn messages_read_back_as_written() {
        let inner = Message::default().bytes(1, b"tag").float(2, 0.5);
        let m = Message::default()
            .double(1, 1.5)
            .int(2, 300)
            .message(5, inner)
            .into_bytes();
        // field 2 varint 300 = 0xac 0x02.
        assert_eq!(&m[9..12], &[0x10, 0xac, 0x02]);
        let f = fields(&m);
        assert!(matches!(f[0], Field::Fixed(1)));
        assert!(matches!(f[1], Field::Int(2, 300)));
        let Field::Bytes(5, inner) = f[2] else {
            panic!("a message field")
        };
        assert!(matches!(fields(inner)[0], Field::Bytes(1, b"tag")));
        assert_eq!(f.len(), 3);
    }
}
