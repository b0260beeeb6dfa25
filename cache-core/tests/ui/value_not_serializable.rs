use cache_core::cached;

#[derive(Clone)]
struct Report {
    lines: Vec<String>,
}

#[cached(ttl = "1m")]
fn report(id: u64) -> Result<Report, std::io::Error> {
    Ok(Report { lines: vec![id.to_string()] })
}

fn main() {
    let _ = report(1).map(|report| report.lines);
}
