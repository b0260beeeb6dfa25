//! Compile-time diagnostics of `#[cached]` and `#[invalidate]`: every `tests/ui/*.rs` must
//! fail to compile with exactly the committed `.stderr` (regenerate with `TRYBUILD=overwrite`
//! and read the result: each message must point at the token at fault).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
