//! The stats panel: bitrate, frame rate, round-trip time and loss, with small plots over time.

use egui::RichText;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::ui::state::AppState;

pub fn show(ui: &mut egui::Ui, state: &AppState) {
    ui.heading("Connection");
    let Some(last) = state.stats.back() else {
        ui.label(RichText::new("No figures yet.").weak());
        return;
    };
    let s = &last.stats;
    egui::Grid::new("stats-grid").num_columns(2).show(ui, |ui| {
        let row = |ui: &mut egui::Ui, name: &str, value: String| {
            ui.label(name);
            ui.label(RichText::new(value).monospace());
            ui.end_row();
        };
        row(ui, "Bitrate in", format!("{:.0} kbps", s.bitrate_in_kbps));
        row(ui, "Bitrate out", format!("{:.0} kbps", s.bitrate_out_kbps));
        row(ui, "Target out", format!("{:.0} kbps", s.target_kbps));
        row(ui, "Frames in", format!("{:.1} fps", s.fps_in));
        row(ui, "Frames out", format!("{:.1} fps", s.fps_out));
        row(
            ui,
            "Round trip",
            s.rtt_ms.map_or("–".to_string(), |r| format!("{r:.1} ms")),
        );
        row(ui, "Packets lost", s.packets_lost.to_string());
        // Relayed media goes through a TURN server; direct media, straight to the other side.
        row(
            ui,
            "Path",
            s.path.as_ref().map_or("–".to_string(), |p| p.to_string()),
        );
        // The microphone as it leaves, after echo cancellation, noise suppression and gain.
        if let Some(voice) = &state.voice {
            if let Some(level) = voice.output_dbfs {
                row(ui, "Microphone out", format!("{level:.0} dBFS"));
            }
            if let Some(erle) = voice.erle_db {
                row(ui, "Echo removed", format!("{erle:.0} dB"));
            }
        }
    });
    let t0 = state.stats.front().map(|p| p.at).unwrap_or(last.at);
    let series = |f: &dyn Fn(&crate::call::CallStats) -> f64| -> PlotPoints<'static> {
        state
            .stats
            .iter()
            .map(|p| [p.at.duration_since(t0).as_secs_f64(), f(&p.stats)])
            .collect()
    };
    ui.add_space(8.0);
    ui.label("Bitrate (kbps)");
    Plot::new("plot-bitrate")
        .height(110.0)
        .legend(Legend::default())
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(Line::new("in", series(&|s| s.bitrate_in_kbps)));
            plot.line(Line::new("out", series(&|s| s.bitrate_out_kbps)));
        });
    ui.label("Frame rate (fps)");
    Plot::new("plot-fps")
        .height(90.0)
        .legend(Legend::default())
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(Line::new("in", series(&|s| s.fps_in)));
            plot.line(Line::new("out", series(&|s| s.fps_out)));
        });
    ui.label("Round trip (ms)");
    Plot::new("plot-rtt")
        .height(90.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(Line::new("rtt", series(&|s| s.rtt_ms.unwrap_or(0.0))));
        });
}
