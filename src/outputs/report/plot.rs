//! The drawing primitives of the report's plots: an axis (linear or log) with its ticks, an SVG
//! plot with its frame, grid and labels, and the colours and escaping the marks use.

use std::fmt::Write as _;

/// How an axis may be scaled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Scale {
    /// Log when every value is positive and they span more than a decade, else linear.
    Auto,
    /// Log whenever every value is positive (a parameter searched on a log range).
    Log,
    /// Always linear.
    Linear,
}

/// A plot axis, linear or logarithmic (base 10), between `lo` and `hi`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    /// A categorical parameter's labels, at 0, 1, …: its ticks.
    labels: Option<&'static [&'static str]>,
}

impl Axis {
    /// The axis that shows the finite `values` (only the positive ones on a log scale), padded a
    /// little beyond the data so that no mark sits on the frame.
    pub(super) fn fit(values: impl Iterator<Item = f64>, scale: Scale) -> Axis {
        let vs: Vec<f64> = values.filter(|v| v.is_finite()).collect();
        let (lo, hi) = bounds(vs.iter().copied());
        let positive = !vs.is_empty() && lo > 0.0;
        let log = match scale {
            Scale::Auto => positive && hi / lo > 10.0,
            Scale::Log => positive,
            Scale::Linear => false,
        };
        if log {
            let (l, h) = (lo.log10(), hi.log10());
            let (l, h) = if h - l < 1e-9 {
                (l - 0.1, h + 0.1)
            } else {
                (l, h)
            };
            let pad = (h - l) * 0.05;
            return Axis {
                lo: 10f64.powf(l - pad),
                hi: 10f64.powf(h + pad),
                log,
                labels: None,
            };
        }
        let (lo, hi) = match (lo.is_finite(), hi > lo) {
            (false, _) => (0.0, 1.0),
            (true, true) => (lo, hi),
            (true, false) if lo == 0.0 => (-0.5, 0.5),
            (true, false) => (lo - lo.abs() * 0.1, hi + hi.abs() * 0.1),
        };
        let pad = (hi - lo) * 0.05;
        Axis {
            lo: lo - pad,
            hi: hi + pad,
            log,
            labels: None,
        }
    }

    /// The axis of a categorical parameter: each label at its index, named by its tick.
    pub(super) fn categories(labels: &'static [&'static str]) -> Axis {
        Axis {
            lo: -0.5,
            hi: labels.len() as f64 - 0.5,
            log: false,
            labels: Some(labels),
        }
    }

    /// Whether the axis is logarithmic.
    pub(super) fn is_log(&self) -> bool {
        self.log
    }

    /// Where `v` falls, from 0 (lo) to 1 (hi).
    pub(super) fn frac(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    /// Whether `v` can be drawn on this axis.
    pub(super) fn ok(&self, v: f64) -> bool {
        v.is_finite() && (!self.log || v > 0.0)
    }

    /// Tick values and their labels: steps of 1, 2 or 5 × 10^k on a linear axis; on a log axis the
    /// powers of ten, with 2 and 5 between them (or more) when the axis spans few decades.
    pub(super) fn ticks(&self) -> Vec<(f64, String)> {
        if let Some(labels) = self.labels {
            return (0..labels.len())
                .map(|i| (i as f64, labels[i].to_string()))
                .collect();
        }
        if self.log {
            return self.log_ticks();
        }
        let count = |step: f64| (self.hi / step).floor() - (self.lo / step).ceil() + 1.0;
        let mut step = nice_step((self.hi - self.lo) / 5.0);
        if count(step) < 4.0 {
            step = nice_step((self.hi - self.lo) / 10.0);
        }
        let first = (self.lo / step).ceil() as i64;
        let last = (self.hi / step).floor() as i64;
        (first..=last)
            .map(|i| {
                let v = i as f64 * step + 0.0;
                (v, tick_label(v, step))
            })
            .collect()
    }

    fn log_ticks(&self) -> Vec<(f64, String)> {
        let (l, h) = (
            self.lo.log10().floor() as i32,
            self.hi.log10().ceil() as i32,
        );
        let within = |v: &f64| *v >= self.lo * (1.0 - 1e-9) && *v <= self.hi * (1.0 + 1e-9);
        let mut sparser: Vec<f64> = vec![];
        for mantissas in [
            &[1.0][..],
            &[1.0, 2.0, 5.0],
            &[1.0, 2.0, 3.0, 5.0, 7.0],
            &MANY,
        ] {
            let ticks: Vec<f64> = (l..=h)
                .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
                .filter(within)
                .collect();
            if ticks.len() >= 4 || mantissas.len() == MANY.len() {
                // Too many: the sparser set if it has a few, else every k-th power.
                let ticks = if ticks.len() > 8 && sparser.len() >= 3 {
                    sparser
                } else {
                    ticks
                };
                let every = ticks.len().div_ceil(8).max(1);
                // Over many decades, every label as a power (1e6, 1e16), not 1M beside 1e16.
                let powers = h - l > 6;
                return ticks
                    .into_iter()
                    .step_by(every)
                    .map(|v| match powers {
                        true => (v, format!("1e{}", v.log10().round())),
                        false => (v, tick_label(v, lead(v))),
                    })
                    .collect();
            }
            sparser = ticks;
        }
        unreachable!("the last mantissa set always returns")
    }
}

/// Mantissas for a log axis that spans less than a decade.
const MANY: [f64; 9] = [1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];

/// The smallest and largest of `vs`; (inf, -inf) when empty.
fn bounds(vs: impl Iterator<Item = f64>) -> (f64, f64) {
    vs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    })
}

/// The smallest step of 1, 2 or 5 × 10^k at least `raw`.
pub(super) fn nice_step(raw: f64) -> f64 {
    let raw = if raw > 0.0 && raw.is_finite() {
        raw
    } else {
        1.0
    };
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(mag * 10.0)
}

/// The resolution of `v`'s leading digit (0.003 → 0.001; 1.5e-9 → 1e-10).
fn lead(v: f64) -> f64 {
    let p = 10f64.powf(v.abs().log10().floor());
    // 1.5 and 7.5 need one more digit than their power of ten.
    if ((v.abs() / p) - (v.abs() / p).round()).abs() > 1e-6 {
        p / 10.0
    } else {
        p
    }
}

/// `v` as a tick label, to the resolution `res`: 0.45, 3e-4, 250k, 1.5M.
pub(super) fn tick_label(v: f64, res: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let decimals = |r: f64| (-(r.log10()) - 1e-9).ceil().clamp(0.0, 6.0) as usize;
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    for (scale, suffix) in [(1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if a >= scale && a < scale * 1e3 {
            let r = res.max(a * 1e-6) / scale;
            return trim(format!("{:.*}", decimals(r), v / scale)) + suffix;
        }
    }
    if (1e-3..1e12).contains(&a) {
        return trim(format!("{:.*}", decimals(res.max(a * 1e-6)), v));
    }
    let e = a.log10().floor();
    let m = v / 10f64.powf(e);
    let r = (res / 10f64.powf(e)).max(1e-3);
    format!("{}e{}", trim(format!("{:.*}", decimals(r), m)), e as i32)
}

/// A plot's size and the margins inside it (room for ticks and labels).
#[derive(Clone, Copy, Debug)]
pub(super) struct Frame {
    pub(super) w: f64,
    pub(super) h: f64,
    pub(super) left: f64,
    pub(super) top: f64,
    pub(super) right: f64,
    pub(super) bottom: f64,
}

/// The size of the main plots: two side by side fit a 1,280 px window.
pub(super) const WIDE: Frame = Frame {
    w: 600.0,
    h: 360.0,
    left: 64.0,
    top: 36.0,
    right: 20.0,
    bottom: 46.0,
};

/// The size of one of the small multiples (four to a row).
pub(super) const SMALL: Frame = Frame {
    w: 290.0,
    h: 230.0,
    left: 52.0,
    top: 30.0,
    right: 12.0,
    bottom: 40.0,
};

/// One SVG plot being drawn.
pub(super) struct Plot {
    x: Axis,
    y: Axis,
    f: Frame,
    /// The SVG so far, which the charts append their marks to.
    pub(super) svg: String,
}

/// A plot's id, title and axis labels.
pub(super) struct Labels<'a> {
    pub(super) id: &'a str,
    pub(super) title: &'a str,
    pub(super) x: &'a str,
    pub(super) y: &'a str,
}

impl Plot {
    /// A plot of the main size.
    pub(super) fn new(id: &str, title: &str, x: Axis, y: Axis, xlabel: &str, ylabel: &str) -> Plot {
        let labels = Labels {
            id,
            title,
            x: xlabel,
            y: ylabel,
        };
        Plot::framed(&labels, x, y, WIDE)
    }

    /// A plot of size `f`, with its frame, grid, ticks and labels drawn.
    pub(super) fn framed(l: &Labels, x: Axis, y: Axis, f: Frame) -> Plot {
        let mut p = Plot {
            x,
            y,
            f,
            svg: String::new(),
        };
        let (pw, ph) = (f.w - f.left - f.right, f.h - f.top - f.bottom);
        let _ = write!(
            p.svg,
            r#"<svg class="plot" id="{id}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{title}">
<text x="{}" y="{}" class="title">{title}</text>
<rect x="{}" y="{}" width="{pw}" height="{ph}" class="frame"/>
"#,
            f.w / 2.0,
            f.top - 14.0,
            f.left,
            f.top,
            id = esc(l.id),
            title = esc(l.title),
            w = f.w,
            h = f.h,
        );
        p.grid(pw, ph);
        let _ = writeln!(
            p.svg,
            r#"<text x="{}" y="{}" class="label" text-anchor="middle">{}</text><text transform="translate(14 {}) rotate(-90)" class="label" text-anchor="middle">{}</text>"#,
            f.left + pw / 2.0,
            f.h - 8.0,
            esc(l.x),
            f.top + ph / 2.0,
            esc(l.y)
        );
        p
    }

    /// The grid lines and tick labels of both axes.
    fn grid(&mut self, pw: f64, ph: f64) {
        let f = self.f;
        for (v, label) in self.x.ticks() {
            let px = self.px(v);
            let _ = write!(
                self.svg,
                r#"<line x1="{px:.1}" x2="{px:.1}" y1="{}" y2="{}" class="grid"/><text x="{px:.1}" y="{}" class="tick" text-anchor="middle">{label}</text>"#,
                f.top,
                f.top + ph,
                f.top + ph + 15.0
            );
        }
        for (v, label) in self.y.ticks() {
            let py = self.py(v);
            let _ = write!(
                self.svg,
                r#"<line x1="{}" x2="{}" y1="{py:.1}" y2="{py:.1}" class="grid"/><text x="{}" y="{:.1}" class="tick" text-anchor="end">{label}</text>"#,
                f.left,
                f.left + pw,
                f.left - 5.0,
                py + 4.0
            );
        }
    }

    pub(super) fn px(&self, v: f64) -> f64 {
        let f = self.f;
        f.left + self.x.frac(v).clamp(-0.02, 1.02) * (f.w - f.left - f.right)
    }

    pub(super) fn py(&self, v: f64) -> f64 {
        let f = self.f;
        f.top + (1.0 - self.y.frac(v).clamp(-0.02, 1.02)) * (f.h - f.top - f.bottom)
    }

    /// A vertical marker at `x` across the plot, labelled at its top (a rung of ASHA).
    pub(super) fn marker(&mut self, x: f64, label: &str) {
        let (px, f) = (self.px(x), self.f);
        let _ = write!(
            self.svg,
            r##"<g class="rung"><line x1="{px:.1}" x2="{px:.1}" y1="{}" y2="{}" stroke="#888" stroke-dasharray="3 3"/><text x="{:.1}" y="{}" class="tick">{}</text></g>"##,
            f.top,
            f.h - f.bottom,
            px + 3.0,
            f.top + 12.0,
            esc(label)
        );
    }

    pub(super) fn ok(&self, x: f64, y: f64) -> bool {
        self.x.ok(x) && self.y.ok(y)
    }

    pub(super) fn finish(mut self) -> String {
        self.svg.push_str("</svg>\n");
        self.svg
    }
}

/// `s` escaped for HTML text and attribute values.
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Trial `i` of `n`'s colour: hues spread evenly round the wheel.
pub(super) fn colour(i: usize, n: usize) -> String {
    format!("hsl({:.0},65%,42%)", 360.0 * i as f64 / n.max(1) as f64)
}

/// A colour from a perceptual ramp (dark blue → yellow) for `t` in [0, 1]; 1 is best.
pub(super) fn ramp(t: f64) -> String {
    let stops = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } * (stops.len() - 1) as f64;
    let i = (t.floor() as usize).min(stops.len() - 2);
    let f = t - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    format!(
        "rgb({:.0},{:.0},{:.0})",
        a.0 + f * (b.0 - a.0),
        a.1 + f * (b.1 - a.1),
        a.2 + f * (b.2 - a.2)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(vs: &[f64], scale: Scale) -> (bool, Vec<String>) {
        let a = Axis::fit(vs.iter().copied(), scale);
        (a.log, a.ticks().into_iter().map(|t| t.1).collect())
    }

    #[test]
    fn values_within_a_decade_get_a_linear_axis_around_them() {
        let (log, t) = labels(&[27.0, 29.5, 31.0], Scale::Auto);
        assert!(!log);
        assert_eq!(t, ["27", "28", "29", "30", "31"]);
        let (log, t) = labels(&[0.41, 0.47], Scale::Auto);
        assert!(!log);
        assert_eq!(t, ["0.41", "0.42", "0.43", "0.44", "0.45", "0.46", "0.47"]);
    }

    #[test]
    fn values_over_decades_get_a_log_axis_with_readable_ticks() {
        let (log, t) = labels(&[1e-4, 0.3], Scale::Auto);
        assert!(log);
        assert_eq!(t, ["1e-4", "0.001", "0.01", "0.1"]);
        let (log, t) = labels(&[0.4, 30.0], Scale::Auto);
        assert!(log);
        assert_eq!(t, ["0.5", "1", "2", "5", "10", "20"]);
        let (_, t) = labels(&[1e-9, 2e-9], Scale::Log);
        assert!(t.contains(&"1.5e-9".to_string()), "{t:?}");
        let (_, t) = labels(&[1e-4, 1e30], Scale::Auto);
        assert!(t.iter().all(|l| l.starts_with("1e")), "{t:?}");
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(250_000.0, 50_000.0), "250k");
        assert_eq!(tick_label(1_500_000.0, 500_000.0), "1.5M");
        assert_eq!(tick_label(3e-4, 1e-4), "3e-4");
        assert_eq!(tick_label(0.45, 0.05), "0.45");
        assert_eq!(tick_label(0.1 + 0.2, 0.1), "0.3");
        assert_eq!(tick_label(-20.0, 10.0), "-20");
        let (_, t) = labels(&[0.0, 60_000.0], Scale::Linear);
        assert_eq!(t, ["0", "20k", "40k", "60k"]);
    }
}
