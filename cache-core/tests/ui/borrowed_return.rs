use std::borrow::Cow;

use cache_core::cached;

struct Users {
    names: Vec<String>,
}

impl Users {
    // A borrowed return value: the cache keeps a clone, which would outlive `self`.
    #[cached]
    fn name(&self, id: usize) -> &str {
        &self.names[id]
    }

    // The same in process only: still a value that borrows.
    #[cached(level = "l1")]
    fn first(&self, id: usize) -> Option<&String> {
        self.names.get(id)
    }
}

#[cached(level = "l1", key = "{id}")]
fn label<'a>(id: u64, text: &'a str) -> Result<Cow<'a, str>, std::io::Error> {
    Ok(Cow::Borrowed(&text[..id as usize]))
}

// Owned, or borrowed for `'static`: accepted.
#[cached(level = "l1")]
fn constant(id: u64) -> &'static str {
    if id == 0 { "zero" } else { "other" }
}

fn main() {
    let _ = constant(0);
}
