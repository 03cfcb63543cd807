//! A grouped bar chart as plain SVG text (no plotting crate): one group per workload, one bar
//! per engine, ops/s on a log-10 axis (the workloads span 10³–10⁷ ops/s).

use std::fmt::Write;

/// Bar colours, one per engine in order.
const COLOURS: &[&str] = &[
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// `series`: (engine, ops/s per workload; `None` = not measured).
pub fn bar_chart_svg(
    title: &str,
    workloads: &[String],
    series: &[(String, Vec<Option<f64>>)],
) -> String {
    let (w, h) = (960.0f64, 440.0f64);
    let (left, right, top, bottom) = (70.0, 150.0, 40.0, 70.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let vals = series.iter().flat_map(|(_, v)| v.iter().flatten().copied());
    let max = vals.clone().fold(1.0f64, f64::max);
    let min = vals.fold(max, f64::min).max(1.0);
    let lo = min.log10().floor();
    let hi = max.log10().ceil().max(lo + 1.0);
    let y = |v: f64| top + plot_h * (1.0 - (v.max(1.0).log10() - lo) / (hi - lo));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        left + plot_w / 2.0,
        escape(title)
    );
    // Axis with one grid line per decade.
    let mut d = lo;
    while d <= hi + 1e-9 {
        let yy = y(10f64.powf(d));
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + plot_w,
            left - 6.0,
            yy + 4.0,
            human(10f64.powf(d))
        );
        d += 1.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">ops/s (log scale)</text>"#,
        top + plot_h / 2.0,
        top + plot_h / 2.0
    );
    let groups = workloads.len().max(1) as f64;
    let group_w = plot_w / groups;
    let bar_w = (group_w * 0.8) / series.len().max(1) as f64;
    for (gi, wl) in workloads.iter().enumerate() {
        let gx = left + gi as f64 * group_w + group_w * 0.1;
        for (si, (_, v)) in series.iter().enumerate() {
            if let Some(Some(val)) = v.get(gi) {
                let x = gx + si as f64 * bar_w;
                let yy = y(*val);
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.1}" y="{yy:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                    bar_w * 0.9,
                    (top + plot_h - yy).max(0.0),
                    COLOURS[si % COLOURS.len()],
                    escape(wl),
                    human(*val)
                );
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            gx + group_w * 0.4,
            top + plot_h + 18.0,
            escape(wl)
        );
    }
    for (si, (name, _)) in series.iter().enumerate() {
        let ly = top + 10.0 + si as f64 * 20.0;
        let lx = left + plot_w + 20.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{ly}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            COLOURS[si % COLOURS.len()],
            lx + 18.0,
            ly + 11.0,
            escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// 1234567 → "1.2M".
pub fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_has_a_bar_per_value_and_a_legend() {
        let svg = bar_chart_svg(
            "t",
            &["a".into(), "b".into()],
            &[
                ("x".into(), vec![Some(1000.0), Some(2e6)]),
                ("y".into(), vec![None, Some(50.0)]),
            ],
        );
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<title>").count(), 3);
        assert!(svg.contains(">x</text>") && svg.contains(">y</text>"));
    }

    #[test]
    fn human_units() {
        assert_eq!(human(1_234_567.0), "1.2M");
        assert_eq!(human(78_000.0), "78k");
        assert_eq!(human(950.0), "950");
    }
}
