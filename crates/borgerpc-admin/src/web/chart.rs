//! Charts drawn on the server as SVG (issue 14: no JavaScript, no chart crate): a bar chart
//! of (label, value) pairs with a scaled value axis, and a stacked bar chart of several series
//! of counts with a legend. The markup is complete and escaped here,
//! so a template inserts it as it is (`|safe`); every chart carries `role="img"`, an
//! `aria-label`, `<title>` and `<desc>`, and the page shows the same numbers in a table
//! beside it, for the reader who cannot see the bars.

use std::fmt::Write as _;

/// One chart's texts and bars.
pub(crate) struct Bars<'a> {
    /// The chart's title: also its accessible name.
    pub(crate) title: &'a str,
    /// What the chart shows, in a sentence (the `<desc>`).
    pub(crate) desc: &'a str,
    /// The bars in order: their label under the axis and their value.
    pub(crate) bars: &'a [(String, f64)],
    /// The top of the value axis when it is fixed (100 for a share in per cent); else the
    /// largest value rounded up to a round number.
    pub(crate) max: Option<f64>,
    /// Written after each number on the value axis ("%" or nothing).
    pub(crate) unit: &'a str,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 40.0;
/// Labels under the axis at most: with more bars, every n-th is labelled so they do not overlap.
const MAX_LABELS: usize = 12;

/// `s` safe in SVG text and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `v`, so the axis has round ticks.
fn nice_ceiling(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|m| *m >= v)
        .unwrap_or(10.0 * magnitude)
}

/// A number as the axis shows it: whole where it is whole.
fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The chart as an `<svg>` element.
pub(crate) fn bar_chart(c: &Bars<'_>) -> String {
    let largest = c.bars.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let top = c
        .max
        .unwrap_or_else(|| nice_ceiling(largest))
        .max(f64::MIN_POSITIVE);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let title = escape(c.title);
    let mut s = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}"><title>{title}</title><desc>{}</desc>"#,
        escape(c.desc)
    );
    // Value axis: five ticks with grid lines.
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let y = TOP + plot_h - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#c8c8c8" stroke-width="1"/><text x="{}" y="{:.1}" text-anchor="end" font-size="12" fill="#222">{}{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            number(v),
            escape(c.unit)
        );
    }
    let n = c.bars.len().max(1);
    let slot = plot_w / n as f64;
    let every = c.bars.len().div_ceil(MAX_LABELS).max(1);
    for (i, (label, value)) in c.bars.iter().enumerate() {
        let h = (value.max(0.0) / top).min(1.0) * plot_h;
        let x = LEFT + slot * i as f64 + slot * 0.15;
        let _ = write!(
            s,
            r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#1f5f9e"><title>{}: {}{}</title></rect>"##,
            TOP + plot_h - h,
            slot * 0.7,
            escape(label),
            number(*value),
            escape(c.unit)
        );
        if i % every == 0 {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12" fill="#222">{}</text>"##,
                LEFT + slot * (i as f64 + 0.5),
                HEIGHT - BOTTOM + 18.0,
                escape(label)
            );
        }
    }
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{}" stroke="#222" stroke-width="1"/></svg>"##,
        TOP + plot_h
    );
    s
}

/// The step between the ticks of an axis of counts: the smallest round number at least `v`
/// that is whole, so every tick is a whole number and the bars fill most of the plot.
fn count_step(v: f64) -> f64 {
    if !(v.is_finite() && v > 1.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= v && s.fract() == 0.0)
        .unwrap_or(10.0 * magnitude)
}

/// One series of a stacked bar chart: its name in the legend, its colour, a value per bar.
pub(crate) struct Series<'a> {
    pub(crate) name: &'a str,
    /// A colour with at least 3:1 contrast to white (the plot's background).
    pub(crate) color: &'static str,
    pub(crate) values: Vec<f64>,
}

/// A stacked bar chart's texts, bars and series (each as long as `labels`).
pub(crate) struct Stacked<'a> {
    pub(crate) title: &'a str,
    pub(crate) desc: &'a str,
    pub(crate) labels: &'a [String],
    pub(crate) series: &'a [Series<'a>],
}

/// Room above the plot for the legend.
const LEGEND: f64 = 22.0;

/// A stacked bar chart as an `<svg>` element: per bar the series on top of each other, in
/// order from the axis up, a white line between them; a legend above naming each colour, and
/// each part's `<title>` naming its series and value (the table beside it has the numbers).
pub(crate) fn stacked_chart(c: &Stacked<'_>) -> String {
    let total = |i: usize| -> f64 {
        c.series
            .iter()
            .map(|s| s.values.get(i).copied().unwrap_or(0.0).max(0.0))
            .sum()
    };
    let largest = (0..c.labels.len()).map(total).fold(0.0, f64::max);
    let top = 4.0 * count_step(largest / 4.0);
    let plot_top = TOP + LEGEND;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - plot_top - BOTTOM;
    let title = escape(c.title);
    let mut s = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}"><title>{title}</title><desc>{}</desc>"#,
        escape(c.desc)
    );
    let mut x = LEFT;
    for series in c.series {
        let _ = write!(
            s,
            r##"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12" fill="#222">{}</text>"##,
            TOP,
            series.color,
            x + 16.0,
            TOP + 10.5,
            escape(series.name)
        );
        x += 16.0 + 7.5 * series.name.chars().count() as f64 + 18.0;
    }
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let y = plot_top + plot_h - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#c8c8c8" stroke-width="1"/><text x="{}" y="{:.1}" text-anchor="end" font-size="12" fill="#222">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            number(v)
        );
    }
    let n = c.labels.len().max(1);
    let slot = plot_w / n as f64;
    let every = c.labels.len().div_ceil(MAX_LABELS).max(1);
    for (i, label) in c.labels.iter().enumerate() {
        let x = LEFT + slot * i as f64 + slot * 0.15;
        let mut base = plot_top + plot_h;
        for series in c.series {
            let value = series.values.get(i).copied().unwrap_or(0.0).max(0.0);
            if value <= 0.0 {
                continue;
            }
            let h = (value / top).min(1.0) * plot_h;
            base -= h;
            let _ = write!(
                s,
                r##"<rect x="{x:.1}" y="{base:.1}" width="{:.1}" height="{h:.1}" fill="{}" stroke="#fff" stroke-width="1"><title>{}: {} {}</title></rect>"##,
                slot * 0.7,
                series.color,
                escape(label),
                escape(series.name),
                number(value)
            );
        }
        if i % every == 0 {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12" fill="#222">{}</text>"##,
                LEFT + slot * (i as f64 + 0.5),
                HEIGHT - BOTTOM + 18.0,
                escape(label)
            );
        }
    }
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{plot_top}" y2="{}" stroke="#222" stroke-width="1"/></svg>"##,
        plot_top + plot_h
    );
    s
}

#[cfg(test)]
mod tests {
    use super::{Bars, Series, Stacked, bar_chart, escape, nice_ceiling, stacked_chart};

    #[test]
    fn stacked_bars_pile_up_and_name_their_series() {
        let labels = vec!["a".to_owned(), "b<".to_owned()];
        let series = [
            Series {
                name: "Gennemført",
                color: "#1f5f9e",
                values: vec![6.0, 1.0],
            },
            Series {
                name: "Fejlet & åbne",
                color: "#b00020",
                values: vec![4.0, 0.0],
            },
        ];
        let svg = stacked_chart(&Stacked {
            title: "Jobs",
            desc: "d",
            labels: &labels,
            series: &series,
        });
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        // Top 12 (ticks of 3), plot 186 high: 6 is 93.0, 4 is 62.0 on top of it, 1 is 15.5;
        // 0 is no part.
        assert!(svg.contains(r#"height="93.0""#) && svg.contains(r#"height="62.0""#));
        assert!(svg.contains(r#"height="15.5""#));
        assert!(svg.contains(">12</text>") && svg.contains(">3</text>"));
        assert_eq!(svg.matches("<title>").count(), 1 + 3);
        assert!(svg.contains("<title>b&lt;: Gennemført 1</title>"));
        assert!(svg.contains(">Fejlet &amp; åbne</text>"), "the legend");
    }

    #[test]
    fn count_axes_have_whole_ticks() {
        use super::count_step;
        assert_eq!(count_step(0.0), 1.0);
        assert_eq!(count_step(1.25), 2.0);
        assert_eq!(count_step(2.5), 3.0);
        assert_eq!(count_step(57.5), 60.0);
        assert_eq!(count_step(22.0), 25.0);
        assert_eq!(count_step(9.5), 10.0);
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert_eq!(nice_ceiling(230.0), 250.0);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
    }

    #[test]
    fn bars_are_scaled_labelled_and_escaped() {
        let bars = vec![("a<b".to_owned(), 5.0), ("c&d".to_owned(), 10.0)];
        let svg = bar_chart(&Bars {
            title: "Logins \"x\"",
            desc: "<script>",
            bars: &bars,
            max: None,
            unit: "",
        });
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img" aria-label="Logins &quot;x&quot;""#));
        assert!(svg.contains("<desc>&lt;script&gt;</desc>"));
        assert!(!svg.contains("<script>") && !svg.contains("a<b"));
        assert!(svg.contains("a&lt;b: 5</title>") && svg.contains("c&amp;d: 10</title>"));
        // The axis tops at 10: the larger bar fills the plot (208 high), the other half.
        assert!(svg.contains(r#"height="208.0""#) && svg.contains(r#"height="104.0""#));
        assert_eq!(svg.matches("<rect").count(), 2);
    }

    #[test]
    fn a_fixed_top_caps_bars_and_many_labels_are_thinned() {
        let bars: Vec<(String, f64)> = (0..30).map(|i| (format!("d{i}"), 150.0)).collect();
        let svg = bar_chart(&Bars {
            title: "t",
            desc: "d",
            bars: &bars,
            max: Some(100.0),
            unit: "%",
        });
        assert!(svg.contains(">100%</text>"));
        assert_eq!(svg.matches(r#"height="208.0""#).count(), 30);
        // 30 bars, at most 12 labels: every third.
        assert_eq!(svg.matches(r#"text-anchor="middle""#).count(), 10);
        assert_eq!(escape("'"), "&#39;");
    }
}
