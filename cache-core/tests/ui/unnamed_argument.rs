use cache_core::cached;

#[cached]
fn area((width, height): (u32, u32)) -> u32 {
    width * height
}

fn main() {
    area((2, 3));
}
