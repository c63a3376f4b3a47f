//! An indicatif progress bar fed by [`Pipeline::on_progress`](super::Pipeline::on_progress).

use indicatif::{ProgressBar, ProgressStyle};

use super::Progress;

/// A progress bar (a spinner when `total` is unknown) and the callback that updates it. The bar
/// draws to stderr; pass the callback to `Pipeline::on_progress`.
///
/// ```no_run
/// # #[cfg(feature = "progress")] {
/// let (bar, update) = fsm_runtime::stream::progress::bar(None);
/// // Pipeline::new(&machine).on_progress(Duration::from_millis(100), update) ...
/// # drop(update); bar.finish();
/// # }
/// ```
pub fn bar(total: Option<u64>) -> (ProgressBar, impl FnMut(&Progress) + Send + 'static) {
    let bar = match total {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} records {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {pos} records {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    let handle = bar.clone();
    let update = move |p: &Progress| {
        handle.set_position(p.records);
        handle.set_message(format!(
            "{:.0} records/s, {} dead-lettered, {:.1?}",
            p.records_per_sec, p.errors, p.elapsed
        ));
        if p.done {
            handle.finish();
        }
    };
    (bar, update)
}
