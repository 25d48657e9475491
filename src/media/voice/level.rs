//! Levels as the processing measures them: mean squares of samples in -1..1, and dBFS of RMS
//! (a full-scale square wave is 0 dBFS, as [`crate::media::audio_analyzer::rms_dbfs`]).

/// The mean square of `samples` (in -1..1).
pub(crate) fn mean_square(samples: &[f32]) -> f64 {
    samples.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / samples.len().max(1) as f64
}

/// A mean square in dBFS; silence reads -120.
pub(crate) fn to_dbfs(mean_square: f64) -> f64 {
    10.0 * mean_square.max(1e-12).log10()
}

/// dBFS back to a mean square.
pub(crate) fn from_dbfs(dbfs: f64) -> f64 {
    10f64.powf(dbfs / 10.0)
}
