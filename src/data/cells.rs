//! A cell's text read as its column wants it, the same for every format: a number finite in f32,
//! a gap, or a level's code; the levels found so far, and the columns being built row-major.

use std::collections::HashMap;

use super::decimal::scan_decimal_f32;
use super::detect::{echo, is_number, too_many_levels};
use super::table::{Kind, ReadOptions, Want, DEFAULT_MISSING, MISSING_CODE};

/// A numeric cell, classified.
pub(super) enum Cell {
    Num(f32),
    Missing,
    /// Not a number (a `Detect` column is then text).
    Text,
    /// Refused, with the sentence why.
    Bad(String),
}

/// Reads `text` (trimmed) as a number that is finite in f32 too (training computes in f32, where a
/// larger one is infinite and would spread NaN through a trial's weights), or says why not.
pub(super) fn numeric_cell(text: &str, missing: Option<&[String]>) -> Cell {
    if let Some((v, _)) = scan_decimal_f32(text.as_bytes(), 0).filter(|&(_, e)| e == text.len()) {
        return Cell::Num(v);
    }
    let is_missing = || missing.is_some_and(|m| m.iter().any(|s| s == text));
    // Digits too many for f64 too (`1e999`) are as out of range as `1e300`; `inf` is no number.
    let written_inf = || text.to_ascii_lowercase().contains("inf");
    match text.parse::<f64>() {
        Ok(v) if (v as f32).is_finite() => Cell::Num(v as f32),
        Ok(v) if v.is_finite() || v.is_infinite() && !written_inf() => Cell::Bad(format!(
            "\"{}\" is outside the range of the 32-bit floats that training uses (at most {:e} \
             in size)",
            echo(text),
            f32::MAX
        )),
        _ if is_missing() => Cell::Missing,
        Ok(_) => Cell::Bad(format!("\"{}\" is not a finite number", echo(text))),
        Err(_) if text.is_empty() => Cell::Bad("the cell is empty".into()),
        Err(_) if missing.is_none() && DEFAULT_MISSING.contains(&text) => Cell::Bad(refused(text)),
        Err(_) => Cell::Text,
    }
}

/// The text columns' distinct values as they are read.
pub(super) struct Levels {
    index: HashMap<Box<str>, u32>,
    pub levels: Vec<String>,
    /// Those that are not numbers (counted in a detected column only).
    pub texts: usize,
}

impl Levels {
    pub fn new() -> Levels {
        Levels {
            index: HashMap::new(),
            levels: Vec::new(),
            texts: 0,
        }
    }

    /// The code of `text`, a new one when it is new.
    pub fn code(&mut self, text: &str) -> u32 {
        if let Some(&c) = self.index.get(text) {
            return c;
        }
        let c = self.levels.len() as u32;
        self.index.insert(text.into(), c);
        self.levels.push(text.to_string());
        c
    }
}

/// The columns being read, row-major.
pub(super) struct Building {
    pub values: Vec<f32>,
    /// Each column's levels so far; None for numbers.
    pub levels: Vec<Option<Levels>>,
}

impl Building {
    pub fn new(wants: &[Want]) -> Building {
        Building {
            values: Vec::new(),
            levels: wants
                .iter()
                .map(|w| matches!(w.kind, Kind::Text | Kind::Detected).then(Levels::new))
                .collect(),
        }
    }

    pub fn done(self) -> (Vec<f32>, Vec<Option<Vec<String>>>) {
        let levels = self
            .levels
            .into_iter()
            .map(|l| l.map(|l| l.levels))
            .collect();
        (self.values, levels)
    }
}

/// Pushes one cell's value (column `k`, read as `want` says); Err says why the row is refused,
/// `Ok(false)` that the column is text.
pub(super) fn push_cell(
    b: &mut Building,
    k: usize,
    want: &Want,
    text: &str,
    opts: &ReadOptions,
    name: &str,
) -> std::result::Result<bool, String> {
    match cell_value(&mut b.levels[k], want, text, opts, name)? {
        Some(v) => {
            b.values.push(v);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The value of one cell of a column read as `want` says (`levels`: its levels so far, None for
/// numbers): a number, NaN for a gap, or a text's code as bits; `Ok(None)`: the column is text.
pub(super) fn cell_value(
    levels: &mut Option<Levels>,
    want: &Want,
    text: &str,
    opts: &ReadOptions,
    name: &str,
) -> std::result::Result<Option<f32>, String> {
    let missing = opts.missing.as_deref();
    Ok(Some(match levels {
        None => match numeric_cell(text, missing) {
            Cell::Num(x) => x,
            Cell::Missing => f32::NAN,
            Cell::Text if want.kind == Kind::Detect => return Ok(None),
            Cell::Text => return Err(format!("\"{}\" is not a number", echo(text))),
            Cell::Bad(why) => return Err(why),
        },
        Some(levels) => {
            if missing.is_some_and(|m| m.iter().any(|s| s == text)) {
                f32::from_bits(MISSING_CODE)
            } else if text.is_empty() {
                return Err(match want.target {
                    true => "the label is empty".into(),
                    false => "the cell is empty".into(),
                });
            } else if missing.is_none() && DEFAULT_MISSING.contains(&text) {
                return Err(refused(text));
            } else {
                let known = levels.levels.len();
                let code = levels.code(text);
                // Only levels that are not numbers count here: a column of numbers with a typo
                // is refused once read, naming the typo (super::detect::check).
                if want.kind == Kind::Detected && levels.levels.len() > known && !is_number(text) {
                    levels.texts += 1;
                    if levels.texts > opts.max_levels {
                        return Err(too_many_levels(
                            name,
                            opts.max_levels,
                            &levels.levels,
                            false,
                        ));
                    }
                }
                f32::from_bits(code)
            }
        }
    }))
}

/// The sentence refusing a cell that marks a gap where gaps are refused.
fn refused(text: &str) -> String {
    format!(
        "\"{}\" marks a missing value, and data.missing is \"refuse\"",
        echo(text)
    )
}
