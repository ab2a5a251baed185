//! Parquet files: flat columns read column by column (row group by row group) into the columns a
//! study uses, with the CSV's rules: numbers (booleans, integers, decimals, floats) are numbers, a
//! null is a gap, strings are read as a CSV cell's text would be (numbers when every one is one).
//! Errors name the file, the row (1 = the first) and the column.

use std::path::Path;

use parquet::basic::{ConvertedType, Type as Physical};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::DataType;
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::table::{
    cell_value, file_crc32, numeric_cell, Body, Cell, Header, Kind, Levels, ReadOptions, Read_,
    Table, Want,
};
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
    let scale = match descr.converted_type() {
        ConvertedType::DECIMAL => 10f64.powi(descr.type_scale()),
        _ => 1.0,
    };
    let max_def = descr.max_def_level();
    let mut numbers = Vec::new();
    let mut texts = Vec::new();
    let is_text = matches!(descr.physical_type(), Physical::BYTE_ARRAY);
    if matches!(
        descr.physical_type(),
        Physical::FIXED_LEN_BYTE_ARRAY | Physical::INT96
    ) {
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
            ColumnReader::ByteArrayColumnReader(c) => drain(c, max_def, &mut texts, |v| {
                Some(String::from_utf8_lossy(v.data()).into_owned())
            })
            .map_err(err)?,
            _ => unreachable!("refused above"),
        }
    }
    Ok(match is_text {
        true => Cells::Texts(texts),
        false => Cells::Numbers(numbers),
    })
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
    match numeric_cell(&number_text(v), opts.missing.as_deref()) {
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
        Cells::Numbers(v) => v.get(row).copied().flatten().map(number_text),
        Cells::Texts(v) => v.get(row).cloned().flatten(),
    };
    Ok((format!("row {}", row + 1), cell.unwrap_or_default()))
}
