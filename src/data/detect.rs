//! What a column not declared categorical is, once read: a column of numbers with a few cells that
//! are not numbers (`7.4e`, `0x10`, `1,5`, `three`) is a column of numbers with typos, refused
//! naming those cells, not a category; and the text quoted in messages, cut short.

use super::table::{Kind, ReadOptions, Table, Want, MISSING_CODE};
use crate::error::{Error, Result};

/// A column whose cells are mostly numbers is refused, not one-hot encoded, when at most this
/// many of its cells are not numbers...
const FEW_CELLS: usize = 3;
/// ...or at most this share of them (one in ten).
const FEW_SHARE: f64 = 0.1;
/// Offending cells named in the message.
const SHOWN: usize = 3;
/// Characters of a cell quoted in a message.
const ECHO: usize = 40;

/// `text` as a message quotes it: at most [`ECHO`] characters, then `…`.
pub(crate) fn echo(text: &str) -> String {
    crate::error::cut(text, ECHO)
}

/// Whether `text` reads as a number (finite or not: `inf` and `1e999` are refused as numbers,
/// with their own message, not taken for a category's level).
pub(super) fn is_number(text: &str) -> bool {
    text.parse::<f64>().is_ok()
}

/// Whether a column with `numbers` cells that are numbers and `texts` that are not (gaps aside)
/// is numbers with typos: most of it is numbers, and the rest few (docs/data.md, "Numbers").
pub(super) fn is_typos(numbers: usize, texts: usize) -> bool {
    texts > 0
        && numbers > texts
        && (texts <= FEW_CELLS || texts as f64 <= FEW_SHARE * (numbers + texts) as f64)
}

/// The sentence refusing a detected text column with more than `max` distinct values (`levels`
/// so far); `mixed`: counting those that are numbers.
pub(super) fn too_many_levels(name: &str, max: usize, levels: &[String], mixed: bool) -> String {
    let examples: Vec<String> = levels
        .iter()
        .filter(|l| !is_number(l))
        .take(2)
        .map(|l| format!("\"{}\", ", echo(l)))
        .collect();
    format!(
        "the column has more than {max} distinct values{} ({}...): drop \"{name}\" from \
         data.features, or list it in data.categorical to one-hot encode it anyway",
        match mixed {
            false => " that are not numbers",
            true => ", numbers and text mixed",
        },
        examples.concat()
    )
}

/// Checks each column of `t` detected as text (`wants`' kinds as read): refused when it is
/// numbers with typos ([`is_typos`]), or when it has more than `opts.max_levels` levels.
pub(super) fn check(t: &Table, wants: &[Want], opts: &ReadOptions) -> Result<()> {
    for (k, w) in wants.iter().enumerate() {
        if w.kind != Kind::Detected {
            continue;
        }
        let levels = t.levels(k).unwrap_or_default();
        let numeric: Vec<bool> = levels.iter().map(|l| is_number(l)).collect();
        let codes = || {
            t.values
                .iter()
                .skip(k)
                .step_by(t.width)
                .map(|v| v.to_bits())
                .enumerate()
                .filter(|&(_, c)| c != MISSING_CODE)
        };
        let (mut numbers, mut texts) = (0, 0);
        for (_, c) in codes() {
            match numeric[c as usize] {
                true => numbers += 1,
                false => texts += 1,
            }
        }
        let name = &t.headers[w.col];
        if is_typos(numbers, texts) {
            let rows: Vec<usize> = codes()
                .filter(|&(_, c)| !numeric[c as usize])
                .map(|(r, _)| r)
                .take(SHOWN)
                .collect();
            return Err(typos(t, w.col, &rows, (numbers, texts)));
        }
        if levels.len() > opts.max_levels {
            let row = codes()
                .find(|&(_, c)| c as usize == opts.max_levels)
                .map_or(0, |(r, _)| r);
            let msg = too_many_levels(name, opts.max_levels, levels, true);
            return Err(t.error_at(row, w.col, &msg));
        }
    }
    Ok(())
}

/// The error naming the cells of column `col` at data rows `rows` that are not numbers, in a
/// column of `numbers` numbers and `texts` other cells.
fn typos(t: &Table, col: usize, rows: &[usize], (numbers, texts): (usize, usize)) -> Error {
    let name = &t.headers[col];
    let place = format!("column {} (\"{name}\")", col + 1);
    let cells: Vec<String> = rows
        .iter()
        .map(|&r| {
            let (at, cell) = t
                .locate(r, col)
                .unwrap_or_else(|_| (format!("row {}", r + 1), String::new()));
            format!("{at}, {place}: \"{}\"", echo(&cell))
        })
        .collect();
    let more = match texts - rows.len() {
        0 => String::new(),
        n => format!("; and {n} more"),
    };
    let (are, them, mark) = match texts {
        1 => ("is", "it", "it marks"),
        _ => ("are", "them", "they mark"),
    };
    Error::Data {
        file: t.file.clone(),
        place,
        msg: format!(
            "{numbers} of its {} cells are numbers but {texts} {are} not, too few for a category \
             ({}{more}): correct {them}, add {them} to data.missing_values if {mark} a gap, or list \
             \"{name}\" in data.categorical to one-hot encode the column",
            numbers + texts,
            cells.join("; "),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_takes_few_cells_in_a_column_of_numbers_for_typos() {
        // A few cells, however small the column, while the numbers are the majority.
        assert!(is_typos(2, 1));
        assert!(is_typos(4, 3));
        assert!(!is_typos(3, 3));
        assert!(!is_typos(1, 2));
        // One in ten, however large.
        assert!(is_typos(90, 10));
        assert!(is_typos(9_000, 1_000));
        assert!(!is_typos(89, 11));
        assert!(!is_typos(8_999, 1_001));
        // None: numbers; no numbers: text.
        assert!(!is_typos(100, 0));
        assert!(!is_typos(0, 100));
    }

    #[test]
    fn what_reads_as_a_number() {
        for t in [
            "1",
            "-2.5",
            "+.5",
            "5.",
            "1e300",
            "1e999",
            "inf",
            "NaN",
            "-infinity",
        ] {
            assert!(is_number(t), "{t}");
        }
        for t in [
            "7.4e",
            "0x10",
            "1,5",
            "three",
            "1_000",
            "",
            "e5",
            "1.2.3",
            "0.\u{0}02",
        ] {
            assert!(!is_number(t), "{t}");
        }
    }

    #[test]
    fn echoed_cells_are_cut() {
        assert_eq!(echo("7.4e"), "7.4e");
        let long = "9".repeat(400);
        assert_eq!(echo(&long), format!("{}…", "9".repeat(40)));
        assert_eq!(echo(&"é".repeat(41)), format!("{}…", "é".repeat(40)));
        assert_eq!(echo(&"é".repeat(40)), "é".repeat(40));
    }
}
