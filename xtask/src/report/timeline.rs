//! The SVG timeline: one lane per mode, each stage a coloured bar placed
//! by its start and length, a time axis in seconds. Plain SVG, so any
//! browser opens it.

use std::fmt::Write;

use crate::kbuild::driver::StageTime;
use crate::kbuild::stages::Stage;

pub struct Lane {
    pub label: String,
    pub stages: Vec<StageTime>,
    pub total_seconds: f64,
}

const WIDTH: f64 = 960.0;
const LEFT: f64 = 130.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const LANE: f64 = 46.0;
const BAR: f64 = 30.0;

fn colour(stage: Stage) -> &'static str {
    match stage {
        Stage::FrontEnd => "#4e79a7",
        Stage::ThinLink => "#f28e2b",
        Stage::BackEnd => "#59a14f",
        Stage::LtoLink => "#e15759",
        Stage::FinalLink => "#9c755f",
        Stage::ModuleBackEnd => "#8cd17d",
        Stage::Modules => "#b07aa1",
    }
}

/// A tick spacing that gives at most about ten ticks.
fn tick_step(max: f64) -> f64 {
    [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0]
        .into_iter()
        .find(|s| max / s <= 10.0)
        .unwrap_or(7200.0)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Where things go on the drawing: seconds to x, and the rows below the lanes.
struct Plot {
    step: f64,
    span: f64,
    scale: f64,
    axis_y: f64,
    legend_y: f64,
}

impl Plot {
    fn new(lanes: &[Lane]) -> Self {
        let max = lanes.iter().map(|l| l.total_seconds).fold(1.0, f64::max);
        let step = tick_step(max);
        let span = (max / step).ceil() * step;
        let axis_y = TOP + LANE * lanes.len() as f64 + 6.0;
        Plot { step, span, scale: (WIDTH - LEFT - RIGHT) / span, axis_y, legend_y: axis_y + 40.0 }
    }

    fn x(&self, t: f64) -> f64 {
        LEFT + t * self.scale
    }

    /// Lane `i`: its label, a bar per stage (its time written inside when
    /// it fits), and the lane's total at its end.
    fn lane(&self, svg: &mut String, i: usize, lane: &Lane) {
        let y = TOP + LANE * i as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            y + BAR / 2.0 + 4.0,
            escape(&lane.label)
        );
        for s in &lane.stages {
            let (x0, w) = (self.x(s.start), (s.seconds * self.scale).max(1.0));
            let tip = format!(
                "{} {}: {:.1}s from {:.1}s, {} steps",
                lane.label,
                s.stage.label(),
                s.seconds,
                s.start,
                s.steps
            );
            let _ = writeln!(
                svg,
                r#"<rect x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{BAR}" fill="{}"><title>{}</title></rect>"#,
                colour(s.stage),
                escape(&tip)
            );
            let text = format!("{:.0}s", s.seconds);
            if w > 8.0 * text.len() as f64 {
                let _ = writeln!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="white">{text}</text>"#,
                    x0 + w / 2.0,
                    y + BAR / 2.0 + 4.0
                );
            }
        }
        let end = self.x(lane.total_seconds);
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" fill="#333">{:.1}s</text>"##,
            end + 4.0,
            y + BAR / 2.0 + 4.0,
            lane.total_seconds
        );
    }

    /// The time axis with its ticks, in seconds.
    fn axis(&self, svg: &mut String) {
        let axis_y = self.axis_y;
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="#333"/>"##,
            self.x(self.span)
        );
        let ticks = (self.span / self.step).round() as usize;
        for k in 0..=ticks {
            let t = k as f64 * self.step;
            let _ = writeln!(
                svg,
                r##"<line x1="{0:.1}" y1="{axis_y:.1}" x2="{0:.1}" y2="{1:.1}" stroke="#333"/>"##,
                self.x(t),
                axis_y + 5.0
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{t:.0}</text>"#,
                self.x(t),
                axis_y + 18.0
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">seconds</text>"#,
            self.x(self.span),
            axis_y + 32.0
        );
    }

    /// A swatch and a name for each stage some lane has.
    fn legend(&self, svg: &mut String, lanes: &[Lane]) {
        let legend_y = self.legend_y;
        let mut lx = LEFT;
        for stage in Stage::ALL {
            if !lanes.iter().any(|l| l.stages.iter().any(|s| s.stage == stage)) {
                continue;
            }
            let label = match stage {
                Stage::LtoLink => "LTO link (thin-link + back-end inside ld.lld)".to_string(),
                s => s.label().to_string(),
            };
            let _ = writeln!(
                svg,
                r#"<rect x="{lx:.1}" y="{:.1}" width="14" height="14" fill="{}"/>"#,
                legend_y - 11.0,
                colour(stage)
            );
            let _ = writeln!(svg, r#"<text x="{:.1}" y="{legend_y:.1}">{}</text>"#, lx + 18.0, escape(&label));
            lx += 30.0 + 7.0 * label.len() as f64;
        }
    }
}

pub fn render(title: &str, lanes: &[Lane]) -> String {
    let plot = Plot::new(lanes);
    let height = plot.legend_y + 30.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(svg, r#"<text x="{LEFT}" y="24" font-size="15" font-weight="bold">{}</text>"#, escape(title));
    for (i, lane) in lanes.iter().enumerate() {
        plot.lane(&mut svg, i, lane);
    }
    plot.axis(&mut svg);
    plot.legend(&mut svg, lanes);
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(stage: Stage, start: f64, seconds: f64) -> StageTime {
        StageTime { stage, steps: 1, start, seconds }
    }

    #[test]
    fn ticks_stay_few() {
        assert_eq!(tick_step(9.0), 1.0);
        assert_eq!(tick_step(95.0), 10.0);
        assert_eq!(tick_step(1900.0), 300.0);
    }

    #[test]
    fn one_bar_per_stage_placed_on_the_axis() {
        let lanes = [
            Lane {
                label: "in-process".into(),
                stages: vec![
                    st(Stage::FrontEnd, 0.0, 60.0),
                    st(Stage::LtoLink, 60.0, 30.0),
                    st(Stage::FinalLink, 90.0, 5.0),
                ],
                total_seconds: 95.0,
            },
            Lane {
                label: "thin-dist".into(),
                stages: vec![
                    st(Stage::FrontEnd, 0.0, 60.0),
                    st(Stage::ThinLink, 60.0, 2.0),
                    st(Stage::BackEnd, 62.0, 20.0),
                    st(Stage::FinalLink, 82.0, 5.0),
                ],
                total_seconds: 87.0,
            },
        ];
        let svg = render("x86_64 <tinyconfig>", &lanes);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<title>").count(), 7, "one bar per stage");
        // 95 s rounds up to a 100 s axis with ticks every 10 s; a bar starting at 60 s sits at 60% of it.
        assert!(svg.contains(">100</text>") && !svg.contains(">110</text>"));
        let x60 = LEFT + 60.0 * (WIDTH - LEFT - RIGHT) / 100.0;
        assert!(svg.contains(&format!(r#"<rect x="{x60:.1}" y="{TOP:.1}""#)), "{svg}");
        assert!(svg.contains("x86_64 &lt;tinyconfig&gt;"));
        assert!(svg.contains("LTO link (thin-link + back-end inside ld.lld)"));
    }
}
