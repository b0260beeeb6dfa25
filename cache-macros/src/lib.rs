//! Attribute macros for `cache-core`: `#[cached]` and `#[invalidate]`.
//! (Work in progress: see issue "The macros".)
#![warn(missing_docs)]

use proc_macro::TokenStream;

/// Caches a function's results (in progress).
#[proc_macro_attribute]
pub fn cached(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

/// Invalidates cache entries after a function runs (in progress).
#[proc_macro_attribute]
pub fn invalidate(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
