use cache_core::cached;

// A type error in the body is reported alone, at its place.
#[cached]
async fn user_name(id: u64) -> Result<String, std::io::Error> {
    let name: String = id;
    Ok(name)
}

fn main() {}
