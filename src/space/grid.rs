//! Grids: a parameter's grid values, and the grid over the whole space, whose points are
//! enumerated by index rather than built.

use std::collections::HashSet;

use super::{key, Domain, Kind, Param, Params, SearchSpace, Value};

impl Param {
    /// The grid points of this parameter, or why it has none.
    pub fn grid_values(&self) -> Result<Vec<Value>, String> {
        match &self.domain {
            Domain::List(xs) => Ok(xs.iter().map(|&x| self.value(x)).collect()),
            Domain::Range {
                low,
                high,
                log,
                grid_points,
            } => {
                let (low, high) = (*low, *high);
                let n = match (grid_points, self.kind) {
                    (Some(n), _) => *n,
                    (None, Kind::Int) if high - low < 10_000.0 => (high - low) as usize + 1,
                    (None, Kind::Int) => {
                        return Err("has too many integers for a grid: give grid_points".into())
                    }
                    (None, Kind::Float | Kind::Cat(_)) => {
                        return Err(
                            "is a float range: a grid needs grid_points (or give a list)".into(),
                        )
                    }
                };
                let mut out: Vec<Value> = Vec::with_capacity(n);
                // Rounding may give a value twice; a set keeps the first of each in linear time.
                let mut seen = HashSet::with_capacity(n);
                for i in 0..n {
                    let t = if n == 1 {
                        0.0
                    } else {
                        i as f64 / (n - 1) as f64
                    };
                    let x = if *log {
                        (low.ln() + t * (high.ln() - low.ln())).exp()
                    } else {
                        low + t * (high - low)
                    };
                    let v = self.value(x.clamp(low, high));
                    if seen.insert(key(v)) {
                        out.push(v);
                    }
                }
                Ok(out)
            }
        }
    }
}

impl SearchSpace {
    /// The grid over every parameter's grid values, or the name of a parameter that has none and why.
    /// A conditional space's grid holds only active combinations, each once: one block for each
    /// assignment of the parameters conditions name, of the parameters active under it.
    pub fn grid(&self) -> Result<Grid, (String, String)> {
        let mut values = Vec::with_capacity(self.params.len());
        for p in &self.params {
            values.push(p.grid_values().map_err(|m| (p.name.clone(), m))?);
        }
        let parents = self.parents();
        let mut assignments: Vec<Params> = vec![Params::new()];
        for &i in &parents {
            let p = &self.params[i];
            let mut next = Vec::with_capacity(assignments.len());
            for a in assignments {
                if !p.when.holds(&a) {
                    next.push(a);
                    continue;
                }
                for v in &values[i] {
                    let mut b = a.clone();
                    b.insert(p.name.clone(), *v);
                    next.push(b);
                }
            }
            if next.len() > MAX_BLOCKS {
                return Err((
                    p.name.clone(),
                    format!("makes more than {MAX_BLOCKS} combinations of conditioning values"),
                ));
            }
            assignments = next;
        }
        let mut blocks = Vec::with_capacity(assignments.len());
        let mut start = Some(0u64);
        for fixed in assignments {
            let axes: Vec<(String, Vec<Value>)> = (0..self.params.len())
                .filter(|i| !parents.contains(i) && self.params[*i].when.holds(&fixed))
                .map(|i| (self.params[i].name.clone(), values[i].clone()))
                .collect();
            let size = axes
                .iter()
                .try_fold(1u64, |s, (_, v)| s.checked_mul(v.len() as u64));
            blocks.push(Block { fixed, axes, start });
            start = start.zip(size).and_then(|(a, b)| a.checked_add(b));
        }
        Ok(Grid {
            blocks,
            size: start,
        })
    }
}

/// The most combinations of the values of the parameters conditions name that a grid takes.
const MAX_BLOCKS: usize = 100_000;

/// Every active combination of the parameters' grid values, enumerated by index rather than built:
/// a study capped at a few trials of a huge grid takes its first points at once.
#[derive(Clone, Debug)]
pub struct Grid {
    /// One block per assignment of the parameters conditions name (one, with none fixed, when
    /// nothing is conditional), in order.
    blocks: Vec<Block>,
    /// The number of points; `None` when it does not fit in a u64.
    size: Option<u64>,
}

/// The points of a grid with some parameters fixed: the product of the others' values.
#[derive(Clone, Debug)]
struct Block {
    fixed: Params,
    /// Each active parameter's values, in the space's order.
    axes: Vec<(String, Vec<Value>)>,
    /// The index of its first point; `None` past a u64.
    start: Option<u64>,
}

impl Block {
    /// Point `i` of the block: the first parameter varies slowest, the last fastest, as in nested
    /// loops.
    fn point(&self, mut i: u64) -> Params {
        let mut out = self.fixed.clone();
        for (name, values) in self.axes.iter().rev() {
            let n = values.len() as u64;
            out.insert(name.clone(), values[(i % n) as usize]);
            i /= n;
        }
        out
    }

    /// The index of `p` in the block, when it is one of its points.
    fn index_of(&self, p: &Params) -> Option<u64> {
        if p.len() != self.fixed.len() + self.axes.len()
            || self.fixed.iter().any(|(k, v)| p.get(k) != Some(v))
        {
            return None;
        }
        let mut i: u64 = 0;
        for (name, values) in &self.axes {
            let v = p.get(name)?;
            let at = values.iter().position(|x| x == v)? as u64;
            i = i.checked_mul(values.len() as u64)?.checked_add(at)?;
        }
        Some(i)
    }
}

impl Grid {
    /// The number of points, or `None` when it is more than a u64 holds.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The index of point `p`, when it is a point of the grid.
    pub fn index_of(&self, p: &Params) -> Option<u64> {
        self.blocks
            .iter()
            .find_map(|b| b.start?.checked_add(b.index_of(p)?))
    }

    /// Point `i` (0-based, below [`Grid::size`]): block by block, and in a block the first
    /// parameter varies slowest, the last fastest, as in nested loops.
    pub fn point(&self, i: u64) -> Params {
        // The last block starting at or before `i` (a block past a u64 starts after every i).
        let at = self
            .blocks
            .partition_point(|b| b.start.is_some_and(|s| s <= i))
            .max(1);
        let b = &self.blocks[at - 1];
        b.point(i - b.start.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::tests::space;

    #[test]
    fn log_int_grid_hits_powers_of_two() {
        let v = space().params[0].grid_values().unwrap();
        assert_eq!(v, [16, 32, 64, 128, 256].map(Value::Int));
    }

    #[test]
    fn float_range_in_a_grid_needs_grid_points() {
        let err = space().grid().unwrap_err();
        assert_eq!(err.0, "learning_rate");
        assert!(err.1.contains("grid_points"), "{}", err.1);
    }

    #[test]
    fn grid_is_the_cartesian_product() {
        let mut s = space();
        s.params[1].domain = Domain::List(vec![0.1, 0.01]);
        let grid = s.grid().unwrap();
        assert_eq!(grid.size(), Some(10));
        let g: Vec<Params> = (0..10).map(|i| grid.point(i)).collect();
        assert_eq!(g[0]["batch_size"], Value::Int(16));
        assert_eq!(g[1]["learning_rate"], Value::Float(0.01));
        assert_eq!(g[9]["batch_size"], Value::Int(256));
        assert!(g.iter().all(|p| s.contains(p)));
        let mut uniq = g.clone();
        uniq.dedup();
        assert_eq!(uniq.len(), 10);
    }

    /// The old grid, built in full: nested loops with the last parameter innermost.
    fn built(s: &SearchSpace) -> Vec<Params> {
        let mut points = vec![Params::new()];
        for p in &s.params {
            let values = p.grid_values().unwrap();
            points = points
                .into_iter()
                .flat_map(|base| {
                    values.iter().map(move |v| {
                        let mut next = base.clone();
                        next.insert(p.name.clone(), *v);
                        next
                    })
                })
                .collect();
        }
        points
    }

    #[test]
    fn points_by_index_are_the_built_grid_in_order() {
        let s = SearchSpace {
            params: vec![
                Param::range("batch_size", Kind::Int, 1.0, 7.0, false),
                Param::range("hidden_width", Kind::Int, 3.0, 300.0, true).with_grid_points(9),
                Param::list("learning_rate", Kind::Float, &[0.1, 0.01, 0.3]),
                Param::range("momentum", Kind::Float, 0.0, 0.9, false).with_grid_points(4),
            ],
        };
        let all = built(&s);
        let grid = s.grid().unwrap();
        assert_eq!(grid.size(), Some(all.len() as u64));
        for (i, p) in all.iter().enumerate() {
            assert_eq!(&grid.point(i as u64), p, "point {i}");
            assert_eq!(grid.index_of(p), Some(i as u64));
        }
    }

    #[test]
    fn grid_size_is_a_checked_product() {
        let wide = |name: &str| Param::range(name, Kind::Int, 1.0, 9_999.0, false);
        let s = SearchSpace {
            params: vec![wide("batch_size"), wide("hidden_width")],
        };
        assert_eq!(s.grid().unwrap().size(), Some(9_999 * 9_999));
        // Five lists of 10,000 values: 10^20 points, more than a u64 holds.
        let values: Vec<f64> = (1..=10_000).map(f64::from).collect();
        let s = SearchSpace {
            params: (0..5)
                .map(|i| Param::list(&format!("p{i}"), Kind::Int, &values))
                .collect(),
        };
        let grid = s.grid().unwrap();
        assert_eq!(grid.size(), None);
        assert_eq!(grid.point(0)["p4"], Value::Int(1));
        assert_eq!(grid.point(10_001)["p3"], Value::Int(2));
        assert_eq!(grid.point(10_001)["p4"], Value::Int(2));
    }

    #[test]
    fn rounded_grid_values_keep_the_first_of_each() {
        let p = Param::range("batch_size", Kind::Int, 1.0, 4.0, false).with_grid_points(10);
        assert_eq!(p.grid_values().unwrap(), [1, 2, 3, 4].map(Value::Int));
    }
}
