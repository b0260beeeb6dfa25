//! The printed table: one row per workload, capacity and thread count; a mean row over the
//! single-threaded rows; and how many rows meet the bar (ours >= best peer - 1 point).

use std::fmt;

/// One measurement row (hit ratios in 0..=1).
pub struct Row {
    pub workload: String,
    pub capacity: usize,
    pub threads: usize,
    pub ours: f64,
    pub moka: f64,
    pub quick_cache: f64,
    /// Single-threaded rows only: moka held to its capacity (not part of the bar, which
    /// takes moka as users run it), LRU and OPT.
    pub moka_at_capacity: Option<f64>,
    pub lru: Option<f64>,
    pub opt: Option<f64>,
}

impl Row {
    /// Ours is within one point of the better of moka and quick_cache (or above).
    fn meets_bar(&self) -> bool {
        self.ours >= self.moka.max(self.quick_cache) - 0.01
    }
}

/// All rows.
#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }
}

fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| workload | capacity | threads | ours | moka | quick_cache | moka held to capacity | LRU | OPT |"
        )?;
        writeln!(f, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")?;
        for row in &self.rows {
            let mark = if row.meets_bar() { "" } else { " ✗" };
            writeln!(
                f,
                "| {} | {} | {} | {}{mark} | {} | {} | {} | {} | {} |",
                row.workload,
                row.capacity,
                row.threads,
                percent(row.ours),
                percent(row.moka),
                percent(row.quick_cache),
                row.moka_at_capacity.map(percent).unwrap_or_default(),
                row.lru.map(percent).unwrap_or_default(),
                row.opt.map(percent).unwrap_or_default(),
            )?;
        }
        let single: Vec<&Row> = self.rows.iter().filter(|row| row.threads == 1).collect();
        if !single.is_empty() {
            let mean = |get: &dyn Fn(&Row) -> f64| {
                single.iter().map(|row| get(row)).sum::<f64>() / single.len() as f64
            };
            writeln!(
                f,
                "| **mean (1 thread)** | | | **{}** | {} | {} | {} | {} | {} |",
                percent(mean(&|r| r.ours)),
                percent(mean(&|r| r.moka)),
                percent(mean(&|r| r.quick_cache)),
                percent(mean(&|r| r.moka_at_capacity.unwrap_or(0.0))),
                percent(mean(&|r| r.lru.unwrap_or(0.0))),
                percent(mean(&|r| r.opt.unwrap_or(0.0))),
            )?;
        }
        let met = self.rows.iter().filter(|row| row.meets_bar()).count();
        writeln!(
            f,
            "\nOurs >= max(moka, quick_cache) - 1 point in {met} of {} rows (✗: below).",
            self.rows.len()
        )
    }
}
