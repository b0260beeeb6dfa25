use cache_core::cache_put;

#[derive(Clone)]
struct Report {
    lines: Vec<String>,
}

#[cache_put(key_prefix = "report", key = "{id}")]
fn save_report(id: u64) -> Report {
    Report { lines: vec![id.to_string()] }
}

fn main() {
    let _ = save_report(1).lines;
}
