//! Parquet files: flat columns read column by column (row group by row group) into the columns a
//! study uses, with the CSV's rules: numbers (booleans, integers, decimals, floats) are numbers, a
//! null is a gap, strings are read as a CSV cell's text would be (numbers when every one is one).
//! Errors name the file, the row (1 = the first) and the column.

use std::path::Path;

use parquet::basic::{ConvertedType, Type as Physical};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::DataType;
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::cells::{cell_value, numeric_cell, Cell, Levels};
use super::table::{file_crc32, Body, Header, Kind, ReadOptions, Read_, Table, Want};
use crate::error::{Error, Result};

/// Values read at a time from a column.
const BATCH: usize = 64 * 1024;

fn open(file: &Path) -> Result<SerializedFileReader<std::fs::File>> {
    let f = std::fs::File::open(file).map_err(|err| Error::Read {
        file: file.to_path_buf(),
        err,
    })?;
    SerializedFileReader::new(f).map_err(|e| bad_file(file, e))
}

fn bad_file(file: &Path, e: parquet::errors::ParquetError) -> Error {
    Error::Data {
        file: file.to_path_buf(),
        place: "the file".into(),
        msg: format!("cannot read it as Parquet: {e}"),
    }
}

/// The column names: the schema's leaves, which must be flat (no lists, maps or nested groups).
pub(super) fn header(file: &Path) -> Result<Vec<String>> {
    let r = open(file)?;
    let schema = r.metadata().file_metadata().schema_descr_ptr();
    let mut names = Vec::new();
    for c in schema.columns() {
        if c.max_rep_level() > 0 || c.path().parts().len() > 1 {
            return Err(Error::Data {
                file: file.to_path_buf(),
                place: format!("column \"{}\"", c.path()),
                msg: "nested or repeated columns are not read: flatten the table first".into(),
            });
        }
        names.push(c.name().to_string());
    }
    // Snappy and no compression only (what pandas and pyarrow write by default): every other
    // codec would add its own library to the build (docs/benchmarks.md).
    for g in r.metadata().row_groups() {
        for c in g.columns() {
            let codec = c.compression();
            let name = codec.to_string();
            let name = name.split('(').next().unwrap_or_default();
            if !matches!(
                codec,
                parquet::basic::Compression::UNCOMPRESSED | parquet::basic::Compression::SNAPPY
            ) {
                return Err(Error::Data {
                    file: file.to_path_buf(),
                    place: format!("column \"{}\"", c.column_path().string()),
                    msg: format!(
                        "the column is compressed with {name}, which tune does not read: write \
                         the file with snappy (pandas and pyarrow's default; polars: \
                         write_parquet(compression=\"snappy\")) or uncompressed"
                    ),
                });
            }
        }
    }
    if names.is_empty() {
        return Err(Error::Data {
            file: file.to_path_buf(),
            place: "the file".into(),
            msg: "the file has no columns".into(),
        });
    }
    Ok(names)
}

/// One column's cells as they come out of the file.
enum Cells {
    Numbers(Vec<Option<f64>>),
    Texts(Vec<Option<String>>),
}

/// Reads the whole of leaf column `col` of `r`.
fn read_column(r: &SerializedFileReader<std::fs::File>, file: &Path, col: usize) -> Result<Cells> {
    let meta = r.metadata();
    let descr = meta.file_metadata().schema_descr().column(col);
    let decimal = descr.converted_type() == ConvertedType::DECIMAL;
    let scale = match decimal {
        true => 10f64.powi(descr.type_scale()),
        false => 1.0,
    };
    let max_def = descr.max_def_level();
    let mut numbers = Vec::new();
    let mut texts = Vec::new();
    let is_text = !decimal && matches!(descr.physical_type(), Physical::BYTE_ARRAY);
    if !decimal && descr.physical_type() == Physical::FIXED_LEN_BYTE_ARRAY
        || descr.physical_type() == Physical::INT96
    {
        return Err(Error::Data {
            file: file.to_path_buf(),
            place: format!("column \"{}\"", descr.name()),
            msg: format!(
                "{} columns are not read: convert it to numbers or strings",
                descr.physical_type()
            ),
        });
    }
    let err = |e: parquet::errors::ParquetError| bad_file(file, e);
    for g in 0..meta.num_row_groups() {
        let rg = r.get_row_group(g).map_err(err)?;
        match rg.get_column_reader(col).map_err(err)? {
            ColumnReader::BoolColumnReader(c) => {
                drain(c, max_def, &mut numbers, |v| Some(*v as u8 as f64)).map_err(err)?
            }
            ColumnReader::Int32ColumnReader(c) => {
                drain(c, max_def, &mut numbers, |v| Some(*v as f64 / scale)).map_err(err)?
            }
            ColumnReader::Int64ColumnReader(c) => {
                drain(c, max_def, &mut numbers, |v| Some(*v as f64 / scale)).map_err(err)?
            }
            ColumnReader::FloatColumnReader(c) => {
                drain(c, max_def, &mut numbers, |v| Some(*v as f64)).map_err(err)?
            }
            ColumnReader::DoubleColumnReader(c) => {
                drain(c, max_def, &mut numbers, |v| Some(*v)).map_err(err)?
            }
            // Decimals as pyarrow and Spark write them (decimal128, decimal256): the unscaled
            // integer in big-endian two's complement.
            ColumnReader::ByteArrayColumnReader(c) if decimal => {
                drain(c, max_def, &mut numbers, |v| {
                    Some(unscaled(v.data()) / scale)
                })
                .map_err(err)?
            }
            ColumnReader::FixedLenByteArrayColumnReader(c) => {
                drain(c, max_def, &mut numbers, |v| {
                    Some(unscaled(v.data()) / scale)
                })
                .map_err(err)?
            }
            ColumnReader::ByteArrayColumnReader(c) => drain(c, max_def, &mut texts, |v| {
                Some(String::from_utf8_lossy(v.data()).into_owned())
            })
            .map_err(err)?,
            ColumnReader::Int96ColumnReader(_) => unreachable!("refused above"),
        }
    }
    Ok(match is_text {
        true => Cells::Texts(texts),
        false => Cells::Numbers(numbers),
    })
}

/// The integer that big-endian two's complement `bytes` make (of any length), as f64: a negative
/// one as the complement of its bits' complement, so that no large value is subtracted.
fn unscaled(bytes: &[u8]) -> f64 {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let flip = if negative { 0xff } else { 0 };
    let magnitude = bytes
        .iter()
        .fold(0f64, |a, &b| a * 256.0 + (b ^ flip) as f64);
    match negative {
        true => -(magnitude + 1.0),
        false => magnitude,
    }
}

/// Appends every value of a column chunk to `out` (None for a null), converted by `f`.
fn drain<T: DataType, U>(
    mut c: ColumnReaderImpl<T>,
    max_def: i16,
    out: &mut Vec<Option<U>>,
    f: impl Fn(&T::T) -> Option<U>,
) -> parquet::errors::Result<()> {
    let (mut defs, mut values) = (Vec::new(), Vec::new());
    loop {
        defs.clear();
        values.clear();
        let (records, _, levels) =
            c.read_records(BATCH, (max_def > 0).then_some(&mut defs), None, &mut values)?;
        if records == 0 {
            return Ok(());
        }
        if max_def == 0 {
            out.extend(values.iter().map(&f));
        } else {
            let mut vals = values.iter();
            for &d in &defs[..levels] {
                out.push(match d == max_def {
                    true => vals.next().and_then(&f),
                    false => None,
                });
            }
        }
    }
}

/// The text a number is read as where a column is text (a declared category, a class label).
fn number_text(v: f64) -> String {
    format!("{v}")
}

/// A number as a message quotes it: with an exponent where its digits would be many (`1e300`,
/// not three hundred digits).
fn short_text(v: f64) -> String {
    match v != 0.0 && !(1e-6..1e16).contains(&v.abs()) {
        true => format!("{v:e}"),
        false => number_text(v),
    }
}

/// Reads the columns `wants` of every row.
pub(super) fn body(h: &Header, wants: &[Want], opts: &ReadOptions) -> Result<Body> {
    let r = open(&h.file)?;
    let rows = usize::try_from(r.metadata().file_metadata().num_rows()).unwrap_or(0);
    if rows == 0 {
        return Err(h.error("the file".into(), "the file has no rows".into()));
    }
    let w = wants.len();
    let mut values = vec![0f32; rows * w];
    let mut all_levels = Vec::new();
    for (k, want) in wants.iter().enumerate() {
        let name = &h.headers[want.col];
        let mut levels = matches!(want.kind, Kind::Text | Kind::Detected).then(Levels::new);
        let cells = read_column(&r, &h.file, want.col)?;
        let at = |row: usize| format!("row {}, column \"{name}\"", row + 1);
        let count = match &cells {
            Cells::Numbers(v) => v.len(),
            Cells::Texts(v) => v.len(),
        };
        if count != rows {
            return Err(h.error(
                format!("column \"{name}\""),
                format!("the column has {count} values but the file {rows} rows"),
            ));
        }
        for row in 0..rows {
            let v = match &cells {
                Cells::Numbers(v) => number(v[row], &mut levels, want, opts, name),
                Cells::Texts(v) => match &v[row] {
                    Some(t) => cell_value(&mut levels, want, t.trim(), opts, name),
                    None => null(&mut levels, want, opts, name),
                },
            };
            match v {
                Ok(Some(x)) => values[row * w + k] = x,
                Ok(None) => return Ok(Body::AsText(k)),
                Err(msg) => return Err(h.error(at(row), msg)),
            }
        }
        all_levels.push(levels.map(|l| l.levels));
    }
    let (crc32, len) = file_crc32(&h.file)?;
    Ok(Body::Done(Read_ {
        crc32,
        len,
        rows,
        values,
        levels: all_levels,
    }))
}

/// A null cell: a gap, unless gaps are refused.
fn null(
    levels: &mut Option<Levels>,
    want: &Want,
    opts: &ReadOptions,
    name: &str,
) -> std::result::Result<Option<f32>, String> {
    match opts.missing {
        Some(_) => Ok(Some(match levels {
            Some(_) => f32::from_bits(super::table::MISSING_CODE),
            None => f32::NAN,
        })),
        None => {
            let _ = (want, name);
            Err("the value is null".into())
        }
    }
}

/// A number's cell: as the CSV reads the number's text, without writing it out when the column
/// is numbers.
fn number(
    v: Option<f64>,
    levels: &mut Option<Levels>,
    want: &Want,
    opts: &ReadOptions,
    name: &str,
) -> std::result::Result<Option<f32>, String> {
    let Some(v) = v else {
        return null(levels, want, opts, name);
    };
    if levels.is_some() {
        return cell_value(levels, want, &number_text(v), opts, name);
    }
    if (v as f32).is_finite() {
        return Ok(Some(v as f32));
    }
    match numeric_cell(&short_text(v), opts.missing.as_deref()) {
        // NaN: pandas' gaps in a float column, where pyarrow did not make them nulls.
        Cell::Missing => Ok(Some(f32::NAN)),
        Cell::Bad(why) => Err(why),
        _ => Err(format!("{v} is not a finite number")),
    }
}

/// Where data row `row` is and the text of its cell in column `col`.
pub(super) fn locate(t: &Table, row: usize, col: usize) -> Result<(String, String)> {
    let r = open(&t.file)?;
    let cell = match read_column(&r, &t.file, col)? {
        Cells::Numbers(v) => v.get(row).copied().flatten().map(short_text),
        Cells::Texts(v) => v.get(row).cloned().flatten(),
    };
    Ok((format!("row {}", row + 1), cell.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::table::Column;
    use parquet::data_type::{ByteArrayType, DoubleType, FixedLenByteArrayType};
    use parquet::data_type::{Int32Type, Int64Type};
    use std::path::PathBuf;
    use std::sync::Arc;

    /// A column's values as written.
    enum Values {
        I32(Vec<i32>),
        I64(Vec<i64>),
        F64(Vec<f64>),
        Bytes(Vec<Vec<u8>>),
        Fixed(Vec<Vec<u8>>),
    }

    /// A Parquet file of one row group, written with the parquet crate (pyarrow's layout for
    /// decimals: its `schema`, a message type), in the temp folder.
    fn write(name: &str, schema: &str, columns: Vec<Values>) -> PathBuf {
        use parquet::file::{properties::WriterProperties, writer::SerializedFileWriter};
        let file = std::env::temp_dir().join(format!("tune-{}-{name}.parquet", std::process::id()));
        let schema = Arc::new(parquet::schema::parser::parse_message_type(schema).unwrap());
        let props = Arc::new(WriterProperties::builder().build());
        let f = std::fs::File::create(&file).unwrap();
        let mut w = SerializedFileWriter::new(f, schema, props).unwrap();
        let mut g = w.next_row_group().unwrap();
        for values in columns {
            let mut c = g.next_column().unwrap().unwrap();
            let wrote = match values {
                Values::I32(v) => c.typed::<Int32Type>().write_batch(&v, None, None),
                Values::I64(v) => c.typed::<Int64Type>().write_batch(&v, None, None),
                Values::F64(v) => c.typed::<DoubleType>().write_batch(&v, None, None),
                Values::Bytes(v) => {
                    let v: Vec<_> = v.into_iter().map(Into::into).collect();
                    c.typed::<ByteArrayType>().write_batch(&v, None, None)
                }
                Values::Fixed(v) => {
                    let v: Vec<_> = v.into_iter().map(Into::into).collect();
                    c.typed::<FixedLenByteArrayType>()
                        .write_batch(&v, None, None)
                }
            };
            wrote.unwrap();
            c.close().unwrap();
        }
        g.close().unwrap();
        w.close().unwrap();
        file
    }

    /// Every column of `file`, read as a feature not declared categorical.
    fn read(file: &Path) -> Result<Table> {
        let h = Header::open(file)?;
        let wants: Vec<Want> = (0..h.headers.len())
            .map(|col| Want {
                col,
                kind: Kind::Detect,
                target: false,
            })
            .collect();
        let opts = ReadOptions {
            missing: Some(vec!["".into()]),
            max_levels: 100,
        };
        let t = h.read(&wants, &opts);
        std::fs::remove_file(file).unwrap();
        t
    }

    fn numbers(t: &Table, col: usize) -> Vec<f32> {
        match t.column(col).unwrap() {
            Column::Numeric(v) => v,
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn decimals_of_every_physical_type_are_read_scaled() {
        let wide = |v: &[i128]| v.iter().map(|x| x.to_be_bytes().to_vec()).collect();
        let file = write(
            "decimals",
            "message m {
                required fixed_len_byte_array(16) a (DECIMAL(38,2));
                required int32 b (DECIMAL(9,3));
                required int64 c (DECIMAL(18,4));
                required binary d (DECIMAL(20,1));
                required fixed_len_byte_array(3) e (DECIMAL(6,0));
            }",
            vec![
                Values::Fixed(wide(&[12_345, -1, -12_345, 0])),
                Values::I32(vec![1_500, -2, 0, 7]),
                Values::I64(vec![-123_456_789, 10_000, 1, 0]),
                // Minimal big-endian bytes, as Spark writes binary decimals.
                Values::Bytes(vec![
                    vec![0x00, 0x7b],
                    vec![0xff, 0x85],
                    vec![0x01],
                    vec![0x80],
                ]),
                Values::Fixed(vec![
                    vec![0x7f, 0xff, 0xff],
                    vec![0x80, 0, 0],
                    vec![0xff, 0xff, 0xff],
                    vec![0, 1, 0],
                ]),
            ],
        );
        let t = read(&file).unwrap();
        let want = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        assert_eq!(numbers(&t, 0), want(&[123.45, -0.01, -123.45, 0.0]));
        assert_eq!(numbers(&t, 1), want(&[1.5, -0.002, 0.0, 0.007]));
        assert_eq!(numbers(&t, 2), want(&[-12_345.678_9, 1.0, 0.0001, 0.0]));
        assert_eq!(numbers(&t, 3), want(&[12.3, -12.3, 0.1, -12.8]));
        assert_eq!(
            numbers(&t, 4),
            want(&[8_388_607.0, -8_388_608.0, -1.0, 256.0])
        );
        // Other fixed-length binaries are still refused, naming the column.
        let file = write(
            "fixed",
            "message m { required fixed_len_byte_array(2) h; }",
            vec![Values::Fixed(vec![vec![1, 2]])],
        );
        let e = read(&file).unwrap_err().to_string();
        assert!(
            e.contains("column \"h\": FIXED_LEN_BYTE_ARRAY columns are not read"),
            "{e}"
        );
    }

    #[test]
    fn strings_of_numbers_with_a_typo_are_refused_naming_the_rows() {
        let text = |v: &[&str]| Values::Bytes(v.iter().map(|s| s.as_bytes().to_vec()).collect());
        let schema = "message m { required binary s (UTF8); required double x; }";
        let mut cells = vec!["1.5"; 20];
        cells[2] = "7.4e";
        cells[11] = "three";
        let file = write(
            "typo",
            schema,
            vec![text(&cells), Values::F64(vec![1.0; 20])],
        );
        assert_eq!(
            read(&file).unwrap_err().to_string(),
            format!(
                "{}: column 1 (\"s\"): 18 of its 20 cells are numbers but 2 are not, too few for \
                 a category (row 3, column 1 (\"s\"): \"7.4e\"; row 12, column 1 (\"s\"): \
                 \"three\"): correct them, add them to data.missing_values if they mark a gap, or \
                 list \"s\" in data.categorical to one-hot encode the column",
                file.display()
            )
        );
        // Mostly text: a category.
        let file = write(
            "text",
            schema,
            vec![text(&["a", "b", "1", "a"]), Values::F64(vec![1.0; 4])],
        );
        assert_eq!(read(&file).unwrap().levels(0).unwrap(), ["a", "b", "1"]);
    }

    #[test]
    fn a_huge_number_is_quoted_short() {
        let file = write(
            "huge",
            "message m { required double x; }",
            vec![Values::F64(vec![1.0, 1e300])],
        );
        let e = read(&file).unwrap_err().to_string();
        assert!(
            e.ends_with(": row 2, column \"x\": \"1e300\" is outside the range of the 32-bit floats that training uses (at most 3.4028235e38 in size)"),
            "{e}"
        );
    }
}
