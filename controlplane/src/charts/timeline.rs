//! A timeline: one row per item (e.g. a provider) over a span of time (e.g. the last 24 h),
//! hours on the x axis, intervals (e.g. degraded periods) drawn as red spans, each with a
//! `<title>` saying what and when.

use super::{escape, hundredths, truncate, Svg};
use chrono::{DateTime, Timelike, Utc};
use std::fmt::Write;

/// One interval of a row, in epoch milliseconds, with its tooltip.
#[derive(Debug, Clone)]
pub struct Span {
    pub start_ms: u64,
    pub end_ms: u64,
    pub title: String,
}

/// One row: its label and its intervals.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    pub spans: Vec<Span>,
}

const WIDTH: u64 = 720;
const LABEL_W: u64 = 110;
const RIGHT: u64 = 12;
const ROW_H: u64 = 24;
const TOP: u64 = 6;
const AXIS_H: u64 = 22;
/// The narrowest span drawn, in hundredths of a unit: a 1-second mark stays visible.
const MIN_SPAN: u64 = 200;
/// Hours between labelled ticks.
const LABEL_EVERY_H: i64 = 3;

/// Draws `rows` between `from_ms` and `to_ms` (epoch ms); spans are clipped to that range.
/// Hour lines fall on whole UTC hours, every [`LABEL_EVERY_H`]th labelled `HH:00`.
pub fn timeline(aria_label: &str, rows: &[Row], from_ms: u64, to_ms: u64) -> Svg {
    let n = u64::try_from(rows.len()).unwrap_or(0).max(1);
    let height = TOP + n * ROW_H + AXIS_H;
    let plot_w = WIDTH - LABEL_W - RIGHT;
    let range = to_ms.saturating_sub(from_ms).max(1);
    // x in hundredths of a unit, so narrow spans keep their place.
    let x_of = |ms: u64| -> u64 {
        let offset = ms.clamp(from_ms, to_ms) - from_ms;
        let scaled = u128::from(offset) * u128::from(plot_w) * 100 / u128::from(range);
        LABEL_W * 100 + u64::try_from(scaled).unwrap_or(0)
    };
    let base_y = TOP + n * ROW_H;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart timeline" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}" preserveAspectRatio="xMidYMid meet">"#,
        escape(aria_label)
    );
    // Hour lines and labels.
    let hour_ms: u64 = 3_600_000;
    let mut hour = from_ms.div_ceil(hour_ms) * hour_ms;
    while hour <= to_ms {
        let x = hundredths(x_of(hour));
        let at = DateTime::<Utc>::from_timestamp_millis(i64::try_from(hour).unwrap_or(0));
        let h = at.map_or(0, |t| i64::from(t.hour()));
        let class = if h % LABEL_EVERY_H == 0 {
            "axis"
        } else {
            "grid"
        };
        let _ = write!(
            svg,
            r#"<line class="{class}" x1="{x}" y1="{TOP}" x2="{x}" y2="{base_y}"/>"#
        );
        if h % LABEL_EVERY_H == 0 {
            let _ = write!(
                svg,
                r#"<text x="{x}" y="{}" text-anchor="middle">{h:02}:00</text>"#,
                base_y + 16
            );
        }
        hour += hour_ms;
    }
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + u64::try_from(i).unwrap_or(0) * ROW_H;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text><rect class="lane" x="{LABEL_W}" y="{}" width="{plot_w}" height="{}"><title>{}: no degraded period</title></rect>"#,
            LABEL_W - 8,
            y + 16,
            escape(&truncate(&row.label, 16)),
            y + 4,
            ROW_H - 8,
            escape(&row.label),
        );
        for span in &row.spans {
            if span.end_ms < from_ms || span.start_ms > to_ms {
                continue;
            }
            let x = x_of(span.start_ms);
            let w = x_of(span.end_ms.max(span.start_ms))
                .saturating_sub(x)
                .max(MIN_SPAN);
            let _ = write!(
                svg,
                r#"<rect class="bad" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>"#,
                hundredths(x),
                y + 4,
                hundredths(w),
                ROW_H - 8,
                escape(&span.title)
            );
        }
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LABEL_W}" y1="{base_y}" x2="{}" y2="{base_y}"/></svg>"#,
        WIDTH - RIGHT
    );
    Svg::from_markup(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    #[test]
    fn spans_are_placed_in_time_clipped_and_escaped() {
        // Arrange: 24 hours from midnight; one span from 06:00 to 12:00, one before the range
        let from = 1_000 * 24 * HOUR;
        let rows = [Row {
            label: "open<ai>".into(),
            spans: vec![
                Span {
                    start_ms: from + 6 * HOUR,
                    end_ms: from + 12 * HOUR,
                    title: "failure_ratio & more".into(),
                },
                Span {
                    start_ms: from - 2 * HOUR,
                    end_ms: from - HOUR,
                    title: "too early".into(),
                },
            ],
        }];

        // Act
        let svg = timeline("Provider health", &rows, from, from + 24 * HOUR);
        let s = svg.as_str();

        // Assert: the plot is 598 wide, so 6 hours is a quarter of it (149.5)
        assert!(s.contains(r#"x="259.50" y="10" width="149.50""#), "{s}");
        assert!(s.contains("<title>failure_ratio &amp; more</title>"));
        assert!(!s.contains("too early"));
        assert!(s.contains(">open&lt;ai&gt;</text>"));
        assert!(s.contains(">06:00</text>") && s.contains(">21:00</text>"));
    }

    #[test]
    fn a_momentary_span_is_still_visible() {
        let from = 1_000 * 24 * HOUR;
        let rows = [Row {
            label: "anthropic".into(),
            spans: vec![Span {
                start_ms: from + HOUR,
                end_ms: from + HOUR + 1_000,
                title: "retry_after".into(),
            }],
        }];
        let svg = timeline("x", &rows, from, from + 24 * HOUR);
        assert!(svg.as_str().contains(r#"width="2.00""#), "{}", svg.as_str());
    }
}
