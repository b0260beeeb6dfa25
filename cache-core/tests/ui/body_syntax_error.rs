use cache_core::cached;

// A syntax error in the body is reported alone, at its place: the macro does not parse the
// body, it re-emits it.
#[cached]
fn user_name(id: u64) -> String {
    let name = ;
    name
}

fn main() {
    user_name(1);
}
