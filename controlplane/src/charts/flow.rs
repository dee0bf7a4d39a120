//! A small Sankey-like flow diagram: sources on the left (primary models), destinations on
//! the right (the slug that finally served, or "failed"), one band per pair with its
//! thickness proportional to its count and a `<title>` giving the exact count.

use super::{escape, hundredths, truncate, Svg};
use std::fmt::Write;

/// One band: `count` items went from `from` to `to`. `kind` picks its colour class:
/// `""` (stayed on the primary), `"fallback"` or `"failed"`.
#[derive(Debug, Clone)]
pub struct Band {
    pub from: String,
    pub to: String,
    pub count: i64,
    pub kind: &'static str,
}

const WIDTH: i64 = 720;
const LABEL_W: i64 = 200;
const NODE_W: i64 = 10;
const GAP: i64 = 12;
/// Height the bands share (hundredths of a unit are used for precision).
const SPAN: i64 = 240;
const TOP: i64 = 8;

/// Nodes in first-seen order with their totals.
fn nodes<'a>(names: impl Iterator<Item = (&'a str, i64)>) -> Vec<(&'a str, i64)> {
    let mut out: Vec<(&str, i64)> = Vec::new();
    for (name, count) in names {
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += count,
            None => out.push((name, count)),
        }
    }
    out
}

/// Draws the bands (in the order given; the caller sorts them, largest first reads best).
/// Zero and negative counts are left out.
pub fn flow(aria_label: &str, bands: &[Band]) -> Svg {
    let bands: Vec<&Band> = bands.iter().filter(|b| b.count > 0).collect();
    let left = nodes(bands.iter().map(|b| (b.from.as_str(), b.count)));
    let right = nodes(bands.iter().map(|b| (b.to.as_str(), b.count)));
    let total: i64 = bands.iter().map(|b| b.count).sum::<i64>().max(1);
    let gaps = i64::try_from(left.len().max(right.len()).saturating_sub(1)).unwrap_or(0);
    let height = TOP * 2 + SPAN + gaps * GAP;
    // Hundredths of a unit per item.
    let scale = SPAN * 100 / total;
    let thickness = |count: i64| (count * scale).max(100);

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart flow-chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}">"#,
        escape(aria_label)
    );

    // Each node's top edge, and how far its bands have filled it (hundredths).
    let place = |list: &[(&str, i64)]| -> Vec<i64> {
        let mut y = TOP * 100;
        list.iter()
            .map(|(_, count)| {
                let top = y;
                y += thickness(*count) + GAP * 100;
                top
            })
            .collect()
    };
    let left_top = place(&left);
    let right_top = place(&right);
    let mut left_fill = left_top.clone();
    let mut right_fill = right_top.clone();
    let x0 = (LABEL_W + NODE_W) * 100;
    let x1 = (WIDTH - LABEL_W - NODE_W) * 100;
    let mid = (x0 + x1) / 2;
    for band in &bands {
        let (Some(l), Some(r)) = (
            left.iter().position(|(n, _)| *n == band.from),
            right.iter().position(|(n, _)| *n == band.to),
        ) else {
            continue;
        };
        let h = thickness(band.count);
        let (ya, yb) = (left_fill[l], right_fill[r]);
        left_fill[l] += h;
        right_fill[r] += h;
        let class = if band.kind.is_empty() {
            "flow".to_owned()
        } else {
            format!("flow {}", band.kind)
        };
        let _ = write!(
            svg,
            r#"<path class="{class}" d="M{} {} C{} {} {} {} {} {} L{} {} C{} {} {} {} {} {} Z"><title>{} → {}: {}</title></path>"#,
            hundredths(x0),
            hundredths(ya),
            hundredths(mid),
            hundredths(ya),
            hundredths(mid),
            hundredths(yb),
            hundredths(x1),
            hundredths(yb),
            hundredths(x1),
            hundredths(yb + h),
            hundredths(mid),
            hundredths(yb + h),
            hundredths(mid),
            hundredths(ya + h),
            hundredths(x0),
            hundredths(ya + h),
            escape(&band.from),
            escape(&band.to),
            requests(band.count),
        );
    }
    for ((name, count), top) in left.iter().zip(&left_top) {
        let h = thickness(*count);
        let _ = write!(
            svg,
            r#"<rect class="node" x="{LABEL_W}" y="{}" width="{NODE_W}" height="{}"><title>{}: {}</title></rect><text x="{}" y="{}" text-anchor="end">{}</text>"#,
            hundredths(*top),
            hundredths(h),
            escape(name),
            requests(*count),
            LABEL_W - 6,
            hundredths(top + h / 2 + 400),
            escape(&truncate(name, 30)),
        );
    }
    for ((name, count), top) in right.iter().zip(&right_top) {
        let h = thickness(*count);
        let _ = write!(
            svg,
            r#"<rect class="node{}" x="{}" y="{}" width="{NODE_W}" height="{}"><title>{}: {}</title></rect><text x="{}" y="{}">{}</text>"#,
            if *name == "failed" { " bad" } else { "" },
            WIDTH - LABEL_W - NODE_W,
            hundredths(*top),
            hundredths(h),
            escape(name),
            requests(*count),
            WIDTH - LABEL_W + 6,
            hundredths(top + h / 2 + 400),
            escape(&truncate(name, 30)),
        );
    }
    svg.push_str("</svg>");
    Svg::from_markup(svg)
}

/// `1 request`, `1,234 requests`.
fn requests(n: i64) -> String {
    if n == 1 {
        "1 request".to_owned()
    } else {
        format!("{} requests", crate::view::count(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(from: &str, to: &str, count: i64, kind: &'static str) -> Band {
        Band {
            from: from.to_owned(),
            to: to.to_owned(),
            count,
            kind,
        }
    }

    #[test]
    fn bands_are_as_thick_as_their_share_and_titled_with_their_count() {
        let svg = flow(
            "Where <traffic> went",
            &[
                band("a/x", "a/x", 3, ""),
                band("a/x", "b/y", 1, "fallback"),
                band("c/z", "failed", 0, "failed"),
            ],
        );
        let s = svg.as_str();

        assert!(s.contains(r#"aria-label="Where &lt;traffic&gt; went""#));
        assert!(s.contains("<title>a/x → a/x: 3 requests</title>"), "{s}");
        assert!(s.contains("<title>a/x → b/y: 1 request</title>"), "{s}");
        assert!(!s.contains("c/z"), "empty bands are left out");
        // 240 units shared by 4 requests: the first band 180 high, the second 60.
        assert!(s.contains("M210.00 8.00 C360.00 8.00 360.00 8.00 510.00 8.00 L510.00 188.00"));
        assert!(s.contains(r#"class="flow fallback""#));
    }

    #[test]
    fn labels_are_escaped_and_an_empty_flow_is_still_an_svg() {
        let s = flow("x", &[band("<a>", "failed", 2, "failed")]);
        assert!(s.as_str().contains("&lt;a&gt;"));
        assert!(s.as_str().contains(r#"class="node bad""#));
        assert!(flow("nothing", &[]).as_str().ends_with("</svg>"));
    }
}
