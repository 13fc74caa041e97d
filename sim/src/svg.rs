//! Small hand-written SVG plots for reports: bar charts and a scatter with a curve.

use std::fmt::Write;

const W: f64 = 560.0;
const H: f64 = 320.0;
const L: f64 = 60.0;
const B: f64 = 40.0;
const T: f64 = 30.0;
const R: f64 = 20.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn frame(title: &str, xlabel: &str, ylabel: &str, ymax: f64) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{}" y="18" text-anchor="middle" font-size="13">{}</text>"#,
        W / 2.0,
        esc(title)
    );
    let (x0, y0, y1) = (L, H - B, T);
    let _ = write!(
        s,
        r#"<line x1="{x0}" y1="{y0}" x2="{}" y2="{y0}" stroke="black"/>"#,
        W - R
    );
    let _ = write!(
        s,
        r#"<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="black"/>"#
    );
    for i in 0..=4 {
        let v = ymax * f64::from(i) / 4.0;
        let y = y0 - (y0 - y1) * f64::from(i) / 4.0;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            x0 - 4.0,
            y + 4.0,
            fmt_num(v)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (L + W - R) / 2.0,
        H - 6.0,
        esc(xlabel)
    );
    let _ = write!(
        s,
        r#"<text x="14" y="{}" text-anchor="middle" transform="rotate(-90 14 {})">{}</text>"#,
        H / 2.0,
        H / 2.0,
        esc(ylabel)
    );
    s
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 1e4 {
        format!("{v:.2e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A bar chart of `(label, value)` pairs.
pub fn bars(title: &str, xlabel: &str, ylabel: &str, data: &[(String, f64)]) -> String {
    let ymax = data.iter().map(|d| d.1).fold(0.0f64, f64::max).max(1.0);
    let mut s = frame(title, xlabel, ylabel, ymax);
    let n = data.len().max(1) as f64;
    let bw = (W - L - R) / n;
    for (i, (label, v)) in data.iter().enumerate() {
        let h = (H - B - T) * v / ymax;
        let x = L + bw * i as f64;
        let _ = write!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#4a7ab5"><title>{}: {}</title></rect>"##,
            x + bw * 0.1,
            H - B - h,
            bw * 0.8,
            h,
            esc(label),
            fmt_num(*v)
        );
        if data.len() <= 24 || i % (data.len() / 12).max(1) == 0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                x + bw / 2.0,
                H - B + 14.0,
                esc(label)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Points `(x, y)` with a curve `curve(x)` over `[0, xmax]`, y in `[0, 1]`.
pub fn points_and_curve(
    title: &str,
    xlabel: &str,
    ylabel: &str,
    points: &[(f64, f64)],
    curve: impl Fn(f64) -> f64,
    curve_label: &str,
) -> String {
    let mut s = frame(title, xlabel, ylabel, 1.0);
    let xmax = points.iter().map(|p| p.0).fold(1.0f64, f64::max);
    let px = |x: f64| L + (W - L - R) * x / xmax;
    let py = |y: f64| H - B - (H - B - T) * y.clamp(0.0, 1.0);
    let mut path = String::new();
    for i in 0..=100 {
        let x = xmax * f64::from(i) / 100.0;
        let _ = write!(
            path,
            "{}{:.1},{:.1} ",
            if i == 0 { "M" } else { "L" },
            px(x),
            py(curve(x))
        );
    }
    let _ = write!(s, r##"<path d="{path}" fill="none" stroke="#c0392b"/>"##);
    for &(x, y) in points {
        let _ = write!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#4a7ab5"><title>{}: {:.3}</title></circle>"##,
            px(x),
            py(y),
            fmt_num(x),
            y
        );
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            px(x),
            H - B + 14.0,
            fmt_num(x)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" fill="#c0392b">{}</text>"##,
        L + 10.0,
        T + 12.0,
        esc(curve_label)
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_well_formed_svg_with_one_mark_per_datum() {
        let b = bars("t", "x", "y", &[("a".into(), 1.0), ("b<".into(), 3.0)]);
        assert!(b.starts_with("<svg") && b.trim_end().ends_with("</svg>"));
        assert_eq!(b.matches("<rect").count(), 3); // background + 2 bars
        assert!(b.contains("b&lt;"));
        let p = points_and_curve("t", "m", "p", &[(1.0, 0.2), (2.0, 0.5)], |x| x / 4.0, "c");
        assert_eq!(p.matches("<circle").count(), 2);
        assert!(p.contains("<path"));
        assert!(bars("empty", "x", "y", &[]).contains("</svg>"));
    }
}
