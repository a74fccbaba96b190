//! The HTML reports: one self-contained file each (styles inline, charts as inline SVG, no
//! script, font or link to fetch), so it opens the same from S3 or a laptop offline. Markup
//! comes from maud, which escapes every interpolated value; charts from plotters' SVG backend,
//! which escapes its labels.

mod audit;
mod cost;
mod organization;

use maud::{html, Markup, PreEscaped, DOCTYPE};
use plotters::coord::ranged1d::{IntoSegmentedCoord, SegmentValue};
use plotters::prelude::*;

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #1f2933; background: #fff; }
h1 { margin-bottom: .2rem; } .meta { color: #52606d; margin-top: 0; }
.tiles { display: flex; flex-wrap: wrap; gap: 1rem; margin: 1.5rem 0; }
.tile { border: 1px solid #d9e2ec; border-radius: 8px; padding: .8rem 1.2rem; min-width: 10rem; }
.tile .value { font-size: 1.6rem; font-weight: 600; } .tile .label { color: #52606d; font-size: .9rem; }
.incomplete { background: #fff3c4; border: 1px solid #f0b429; padding: .6rem 1rem; border-radius: 6px; }
.scroll { overflow-x: auto; max-width: 100%; margin: .5rem 0 1.5rem; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { border: 1px solid #d9e2ec; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f5f7fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.id, #checks td { white-space: nowrap; }
.PASS { background: #e3f9e5; color: #05400a; } .FAIL { background: #ffe3e3; color: #610404; }
.WARN { background: #fff3c4; color: #5c4813; } .INFO { background: #e6f6ff; color: #03449e; }
.ERROR { background: #610404; color: #fff; } .none { color: #52606d; }
.chart { margin: 1rem 0 .3rem; } .chart svg { max-width: 100%; height: auto; }
ul.legend { list-style: none; padding: 0; margin: 0 0 1rem; display: flex; flex-wrap: wrap; gap: .4rem 1rem; font-size: .9rem; }
ul.legend .swatch { display: inline-block; width: .9rem; height: .9rem; margin-right: .3rem; vertical-align: -.1rem; border-radius: 2px; }
ul.changes li { margin: .2rem 0; } .findings li { margin: .2rem 0; overflow-wrap: anywhere; }
@media (max-width: 600px) {
  body { margin: .75rem; } .tile { min-width: 0; flex: 1 1 8rem; padding: .6rem .8rem; }
  .tile .value { font-size: 1.25rem; } table { font-size: .8rem; }
}
"#;

/// The page around `body`.
pub(crate) fn page(title: &str, meta: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                main {
                    h1 { (title) }
                    p.meta { (meta) }
                    (body)
                }
            }
        }
    }
    .into_string()
}

pub(crate) fn tiles(items: &[(String, String)]) -> Markup {
    html! {
        div.tiles {
            @for (label, value) in items {
                div.tile { div.value { (value) } div.label { (label) } }
            }
        }
    }
}

pub(crate) fn changes(lines: &[String]) -> Markup {
    html! {
        h2 { "Since the previous report" }
        @if lines.is_empty() {
            p { "No change, or no previous report." }
        } @else {
            ul.changes { @for line in lines { li { (line) } } }
        }
    }
}

/// The section a page opens with: the ranked actions (see `run::Ranked`).
pub(crate) fn fix_first(actions: &[crate::run::Ranked]) -> Markup {
    html! {
        h2 { "Fix first" }
        @if actions.is_empty() {
            p { "Nothing: no check failed." }
        } @else {
            ol id="fix-first" {
                @for a in actions.iter().take(crate::run::FIX_FIRST_SHOWN) { li { (a.line) } }
            }
            @if actions.len() > crate::run::FIX_FIRST_SHOWN {
                p.meta { (crate::lifecycle::count((actions.len() - crate::run::FIX_FIRST_SHOWN) as u64, "more action", "more actions")) " in the findings below." }
            }
        }
    }
}

/// A table that may be wider than a phone: it scrolls inside its own region, which the keyboard
/// can reach, instead of the whole page scrolling sideways.
pub(crate) fn scroll(label: &str, table: Markup) -> Markup {
    html! { div.scroll role="region" aria-label=(label) tabindex="0" { (table) } }
}

/// One bar of a chart: its label and its stacked parts (value, colour).
pub(crate) struct Bar {
    pub label: String,
    pub parts: Vec<(f64, RGBColor)>,
}

pub(crate) const GREEN: RGBColor = RGBColor(63, 145, 66);
pub(crate) const RED: RGBColor = RGBColor(207, 17, 36);
pub(crate) const AMBER: RGBColor = RGBColor(240, 180, 41);
pub(crate) const BLUE: RGBColor = RGBColor(47, 128, 237);
pub(crate) const DARK: RGBColor = RGBColor(97, 4, 4);

/// What a chart's bars count: whole things (repositories) get whole-number ticks only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    Count,
    Amount,
}

/// Horizontal stacked bars as an inline SVG element, with a legend of its colours in the page
/// (empty when there is nothing to draw). The picture is one image to assistive technology,
/// named by its caption; the table after it holds the same numbers.
pub(crate) fn bar_chart(caption: &str, bars: &[Bar], legend: &[(&str, RGBColor)], scale: Scale) -> Markup {
    if bars.is_empty() {
        return html! {};
    }
    match draw_bars(caption, bars, scale) {
        Ok(svg) => html! {
            div.chart role="img" aria-label=(format!("{caption} (the table below has the numbers)")) { (PreEscaped(svg)) }
            ul.legend aria-hidden="true" {
                @for (name, colour) in legend {
                    li { span.swatch style=(format!("background: rgb({}, {}, {})", colour.0, colour.1, colour.2)) {} (name) }
                }
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "a chart could not be drawn");
            html! {}
        }
    }
}

fn draw_bars(caption: &str, bars: &[Bar], scale: Scale) -> Result<String, String> {
    let longest = bars.iter().map(|b| b.label.chars().count()).max().unwrap_or(0).min(40);
    let label_width = (longest as u32 * 7 + 20).max(60);
    let height = 60 + 26 * bars.len() as u32;
    let max = bars.iter().map(|b| b.parts.iter().map(|p| p.0).sum::<f64>()).fold(0.0, f64::max);
    let max = if max > 0.0 { max * 1.05 } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0f64..max, (0..bars.len()).into_segmented())
            .map_err(|e| e.to_string())?;
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => bars.get(*i).map(|b| truncate(&b.label, 40)).unwrap_or_default(),
            _ => String::new(),
        };
        // Counts get a tick per whole number (at most 10 of them), never "0.5 repositories".
        let whole = |v: &f64| if v.fract() == 0.0 { format!("{v:.0}") } else { String::new() };
        let mut mesh = chart.configure_mesh();
        // Labels in a size people read: plotters' default scales with the chart's height, to 2–3 px
        // on a short chart.
        mesh.disable_y_mesh()
            .y_labels(bars.len())
            .y_label_formatter(&label)
            .x_label_style(("sans-serif", 13))
            .y_label_style(("sans-serif", 13));
        if scale == Scale::Count {
            mesh.x_labels((max.floor() as usize + 1).clamp(2, 11)).x_label_formatter(&whole);
        }
        mesh.draw().map_err(|e| e.to_string())?;
        let rectangles = bars.iter().enumerate().flat_map(|(i, bar)| {
            let mut start = 0.0;
            bar.parts.iter().map(move |(value, colour)| {
                let mut r = Rectangle::new(
                    [(start, SegmentValue::Exact(i)), (start + value, SegmentValue::Exact(i + 1))],
                    colour.filled(),
                );
                // A gap between bars, so neighbours of one colour stay apart.
                r.set_margin(3, 3, 0, 0);
                start += value;
                r
            })
        });
        chart.draw_series(rectangles).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

#[cfg(test)]
mod tests;
