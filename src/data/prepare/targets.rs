//! The target column: the rows that have one, and each one's value (a class index for
//! classification, the classes in text order or numeric order when all are numbers).

use crate::data::detect::echo;
use crate::data::table::{Column, Table, MISSING_CODE};
use crate::data::Task;
use crate::error::{Error, Result};

/// The rows that have a target, and their targets.
pub struct Targets {
    /// Data rows of the file kept, ascending.
    pub kept: Vec<usize>,
    /// Each kept row's target (a class index for classification).
    pub y: Vec<f32>,
    pub classes: Vec<String>,
}

/// The targets of `table`'s column `col` (read as text for classification, numbers otherwise);
/// rows where it is missing are left out.
pub fn targets(table: &Table, col: usize, task: Task, name: &str) -> Result<Targets> {
    let k = table.slot(col).expect("the target was read");
    let column = match table.levels(k) {
        None => None,
        Some(_) => table.column(col),
    };
    let (kept, y, classes): (Vec<usize>, Vec<f32>, Vec<String>) = match column {
        None => {
            // Numbers: read in place, in one pass.
            let (mut kept, mut y) = (Vec::with_capacity(table.rows), Vec::new());
            y.reserve(table.rows);
            for (r, row) in table.values.chunks_exact(table.width).enumerate() {
                if !row[k].is_nan() {
                    kept.push(r);
                    y.push(row[k]);
                }
            }
            (kept, y, vec![])
        }
        Some(Column::Numeric(_)) => unreachable!("a column with levels is text"),
        Some(Column::Text { codes, levels }) => {
            let classes = class_order(&levels);
            let rank: Vec<f32> = levels
                .iter()
                .map(|l| classes.iter().position(|c| c == l).unwrap() as f32)
                .collect();
            let kept: Vec<usize> = (0..codes.len())
                .filter(|&r| codes[r] != MISSING_CODE)
                .collect();
            let y = kept.iter().map(|&r| rank[codes[r] as usize]).collect();
            (kept, y, classes)
        }
    };
    if kept.is_empty() {
        return Err(Error::Data {
            file: table.file.clone(),
            place: format!("column \"{name}\""),
            msg: "every row's target is missing".into(),
        });
    }
    if task == Task::Classification && classes.len() < 2 {
        return Err(Error::Data {
            file: table.file.clone(),
            place: format!("column \"{name}\""),
            msg: format!(
                "a classification target needs at least two classes, found only {}",
                classes
                    .first()
                    .map(|c| format!("\"{}\"", echo(c)))
                    .unwrap_or_default()
            ),
        });
    }
    Ok(Targets { kept, y, classes })
}

/// Class labels in text order, or numeric order when all are numbers.
fn class_order(levels: &[String]) -> Vec<String> {
    let mut classes = levels.to_vec();
    classes.sort();
    let nums: Option<Vec<f64>> = classes
        .iter()
        .map(|c| c.parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect();
    if let Some(nums) = nums {
        let mut pairs: Vec<(f64, String)> = nums.into_iter().zip(classes).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        classes = pairs.into_iter().map(|p| p.1).collect();
    }
    classes
}
