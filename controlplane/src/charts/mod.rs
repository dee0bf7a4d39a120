//! Charts drawn on the server as inline SVG: no script, no external files, so a page with a
//! chart works offline and under the pages' CSP. Every chart has an accessible label, and
//! every mark a `<title>` (the browser's tooltip) with its exact value. Colours come from
//! the stylesheet's `.chart` classes.

pub mod flow;
pub mod timeline;

use std::fmt::{self, Write};

/// A rendered chart, written into a template with `{{ chart|safe }}`: its text parts are
/// escaped here.
#[derive(Debug, Clone, Default)]
pub struct Svg(String);

impl fmt::Display for Svg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Svg {
    /// Wraps SVG markup built elsewhere (e.g. a page's own diagram); the caller must have
    /// escaped every piece of text in it with [`escape`].
    pub fn from_markup(markup: String) -> Svg {
        Svg(markup)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Escapes text for SVG/HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// One bar: its axis label, its value (any integer unit) and that value written for people.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub text: String,
}

const WIDTH: i64 = 720;
const HEIGHT: i64 = 220;
const LEFT: i64 = 64;
const BOTTOM: i64 = 24;
const TOP: i64 = 12;

/// Vertical bars over a sequence (e.g. spend per day), with the largest value marked on the
/// axis by `max_text`. Negative values draw as zero. Every `label_every`-th label is shown
/// under the axis so 30 days stay readable on a phone.
pub fn columns(aria_label: &str, bars: &[Bar], max_text: &str, label_every: usize) -> Svg {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" preserveAspectRatio="xMidYMid meet">"#,
        escape(aria_label)
    );
    let plot_w = WIDTH - LEFT - 8;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let base_y = TOP + plot_h;
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{base_y}" x2="{}" y2="{base_y}"/><line class="grid" x1="{LEFT}" y1="{TOP}" x2="{}" y2="{TOP}"/><text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{base_y}" text-anchor="end">0</text>"#,
        WIDTH - 8,
        WIDTH - 8,
        LEFT - 6,
        TOP + 4,
        escape(max_text),
        LEFT - 6,
    );
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let n = i64::try_from(bars.len()).unwrap_or(1).max(1);
    let slot = plot_w * 100 / n; // hundredths of a unit, to spread bars evenly
    let every = label_every.max(1);
    for (i, bar) in bars.iter().enumerate() {
        let i = i64::try_from(i).unwrap_or(0);
        let x = LEFT * 100 + i * slot + slot / 8;
        let w = (slot * 3 / 4).max(100);
        let h = bar.value.max(0) * plot_h * 100 / max;
        let y = base_y * 100 - h;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>"#,
            hundredths(x),
            hundredths(y),
            hundredths(w),
            hundredths(h),
            escape(&bar.label),
            escape(&bar.text)
        );
        if usize::try_from(i).unwrap_or(0).is_multiple_of(every) {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
                hundredths(x + w / 2),
                HEIGHT - 6,
                escape(&bar.label)
            );
        }
    }
    svg.push_str("</svg>");
    Svg(svg)
}

/// Horizontal bars, one row per item (e.g. spend per model), largest first as given, each
/// with its label on the left and its value written at the bar's end.
pub fn rows(aria_label: &str, bars: &[Bar]) -> Svg {
    const ROW: i64 = 26;
    const LABEL_W: i64 = 220;
    const VALUE_W: i64 = 110;
    let height = ROW * i64::try_from(bars.len()).unwrap_or(0).max(1) + 4;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}">"#,
        escape(aria_label)
    );
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let span = WIDTH - LABEL_W - VALUE_W;
    for (i, bar) in bars.iter().enumerate() {
        let y = i64::try_from(i).unwrap_or(0) * ROW + 2;
        let w = (bar.value.max(0) * span / max).max(1);
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text><rect class="bar" x="{LABEL_W}" y="{}" width="{w}" height="{}"><title>{}: {}</title></rect><text x="{}" y="{}">{}</text>"#,
            LABEL_W - 8,
            y + 16,
            escape(&truncate(&bar.label, 34)),
            y + 4,
            ROW - 8,
            escape(&bar.label),
            escape(&bar.text),
            LABEL_W + w + 6,
            y + 16,
            escape(&bar.text)
        );
    }
    svg.push_str("</svg>");
    Svg(svg)
}

/// `text` cut to `max` characters with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Hundredths of a unit as an SVG number: `1234` → `12.34`. Every chart computes its
/// coordinates in integer hundredths and writes them with this.
fn hundredths(v: impl Into<i128>) -> String {
    let v: i128 = v.into();
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", v.abs() / 100, v.abs() % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, value: i64) -> Bar {
        Bar {
            label: label.to_owned(),
            value,
            text: format!("{value} units"),
        }
    }

    #[test]
    fn columns_scale_to_the_largest_value_and_escape_labels() {
        let svg = columns(
            "Spend <per> day",
            &[bar("a&b", 50), bar("c", 100)],
            "$1.00",
            1,
        );
        let s = svg.as_str();
        assert!(s.contains(r#"aria-label="Spend &lt;per&gt; day""#));
        assert!(s.contains("<title>a&amp;b: 50 units</title>"));
        // The larger bar fills the plot's height (220 - 12 - 24 = 184), the other half of it.
        assert!(s.contains(r#"height="184.00""#), "{s}");
        assert!(s.contains(r#"height="92.00""#), "{s}");
    }

    #[test]
    fn rows_write_each_value_and_survive_zeroes() {
        let svg = rows("Spend by model", &[bar("openai/gpt-5.4", 0), bar("x", 0)]);
        assert!(svg.as_str().contains(">0 units</text>"));
        let empty = rows("nothing", &[]);
        assert!(empty.as_str().starts_with("<svg"));
    }

    #[test]
    fn long_labels_are_truncated_with_an_ellipsis() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
