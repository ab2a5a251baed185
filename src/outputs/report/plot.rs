//! The drawing primitives of the report's plots: an axis (linear or log) with its ticks, an SVG
//! plot with its frame, grid and labels, and the colours and escaping the marks use.

use std::fmt::Write as _;

use crate::outputs::leaderboard::short;

// Every plot's size, and the margins between it and its frame (room for ticks and labels).
const W: f64 = 640.0;
const H: f64 = 380.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 50.0;

/// A plot axis: linear or logarithmic (base 10 or 2) between `lo` and `hi`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Axis {
    lo: f64,
    hi: f64,
    log: Option<f64>,
}

impl Axis {
    /// The axis that shows the finite `values` (the positive ones on a log scale), padded on a
    /// linear scale and widened to whole powers on a log one.
    pub(super) fn fit(values: impl Iterator<Item = f64>, log: Option<f64>) -> Axis {
        let vs: Vec<f64> = values
            .filter(|v| v.is_finite() && (log.is_none() || *v > 0.0))
            .collect();
        let (mut lo, mut hi) = vs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if !lo.is_finite() {
            (lo, hi) = (1.0, 10.0);
        }
        if let Some(b) = log {
            let (l, h) = (lo.log(b).floor(), hi.log(b).ceil());
            let h = if h <= l { l + 1.0 } else { h };
            return Axis {
                lo: b.powf(l),
                hi: b.powf(h),
                log,
            };
        }
        if hi <= lo {
            (lo, hi) = (lo - 0.5, hi + 0.5);
        }
        let pad = (hi - lo) * 0.05;
        Axis {
            lo: lo - pad,
            hi: hi + pad,
            log: None,
        }
    }

    /// Where `v` falls, from 0 (lo) to 1 (hi).
    fn frac(&self, v: f64) -> f64 {
        match self.log {
            Some(b) => (v.log(b) - self.lo.log(b)) / (self.hi.log(b) - self.lo.log(b)),
            None => (v - self.lo) / (self.hi - self.lo),
        }
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        match self.log {
            Some(b) => {
                let (l, h) = (self.lo.log(b).round() as i32, self.hi.log(b).round() as i32);
                let step = ((h - l) as f64 / 8.0).ceil().max(1.0) as i32;
                (l..=h)
                    .step_by(step as usize)
                    .map(|e| (b.powi(e), short(b.powi(e))))
                    .collect()
            }
            None => {
                let raw = (self.hi - self.lo) / 6.0;
                let mag = 10f64.powf(raw.log10().floor());
                let step = [1.0, 2.0, 5.0, 10.0]
                    .iter()
                    .map(|m| m * mag)
                    .find(|s| *s >= raw)
                    .unwrap_or(mag * 10.0);
                let mut t = (self.lo / step).ceil() * step;
                let mut out = vec![];
                while t <= self.hi + 1e-12 {
                    // `+ 0.0` turns -0 into 0.
                    out.push((t, short((t / step).round() * step + 0.0)));
                    t += step;
                }
                out
            }
        }
    }
}

/// One SVG plot being drawn.
pub(super) struct Plot {
    x: Axis,
    y: Axis,
    /// The SVG so far, which the charts append their marks to.
    pub(super) svg: String,
}

impl Plot {
    pub(super) fn new(
        id: &'static str,
        title: &str,
        x: Axis,
        y: Axis,
        xlabel: &str,
        ylabel: &str,
    ) -> Plot {
        let mut p = Plot {
            x,
            y,
            svg: String::new(),
        };
        let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
        let _ = write!(
            p.svg,
            r#"<svg class="plot" id="{id}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{title}">
<text x="{}" y="22" class="title">{}</text>
<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" class="frame"/>
"#,
            W / 2.0,
            esc(title)
        );
        for (v, label) in x.ticks() {
            let px = p.px(v);
            let _ = write!(
                p.svg,
                r#"<line x1="{px:.1}" x2="{px:.1}" y1="{TOP}" y2="{}" class="grid"/><text x="{px:.1}" y="{}" class="tick" text-anchor="middle">{label}</text>"#,
                TOP + ph,
                TOP + ph + 16.0
            );
        }
        for (v, label) in y.ticks() {
            let py = p.py(v);
            let _ = write!(
                p.svg,
                r#"<line x1="{LEFT}" x2="{}" y1="{py:.1}" y2="{py:.1}" class="grid"/><text x="{}" y="{:.1}" class="tick" text-anchor="end">{label}</text>"#,
                LEFT + pw,
                LEFT - 6.0,
                py + 4.0
            );
        }
        let _ = writeln!(
            p.svg,
            r#"<text x="{}" y="{}" class="label" text-anchor="middle">{}</text><text transform="translate(16 {}) rotate(-90)" class="label" text-anchor="middle">{}</text>"#,
            LEFT + pw / 2.0,
            H - 10.0,
            esc(xlabel),
            TOP + ph / 2.0,
            esc(ylabel)
        );
        p
    }

    pub(super) fn px(&self, v: f64) -> f64 {
        LEFT + self.x.frac(v).clamp(-0.02, 1.02) * (W - LEFT - RIGHT)
    }

    pub(super) fn py(&self, v: f64) -> f64 {
        TOP + (1.0 - self.y.frac(v).clamp(-0.02, 1.02)) * (H - TOP - BOTTOM)
    }

    /// A vertical marker at `x` across the plot, labelled at its top (a rung of ASHA).
    pub(super) fn marker(&mut self, x: f64, label: &str) {
        let px = self.px(x);
        let _ = write!(
            self.svg,
            r##"<g class="rung"><line x1="{px:.1}" x2="{px:.1}" y1="{TOP}" y2="{}" stroke="#888" stroke-dasharray="3 3"/><text x="{:.1}" y="{}" class="tick">{}</text></g>"##,
            H - BOTTOM,
            px + 3.0,
            TOP + 12.0,
            esc(label)
        );
    }

    pub(super) fn ok(&self, x: f64, y: f64) -> bool {
        x.is_finite()
            && y.is_finite()
            && (self.x.log.is_none() || x > 0.0)
            && (self.y.log.is_none() || y > 0.0)
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
