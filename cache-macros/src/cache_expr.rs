//! The `cache = ...` argument: the expression is evaluated on each call, inside the function,
//! and anything that derefs to a `Cache` is accepted (`&Cache`, a `Cache` field, a static
//! `LazyLock<Cache>`, `once_cell.get_or_init(..).await`).

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use syn::Expr;
use syn::spanned::Spanned;

use crate::body::internal_at;

/// `let {var}: &Cache = ..;` for the given expression, or the global cache.
pub(crate) fn bind(expr: Option<&Expr>, krate: &TokenStream, var: &Ident) -> TokenStream {
    match expr {
        Some(expr) => {
            let span = expr.span();
            // Borrow first, then coerce: `&(expr)` under an expected `&Cache` would demand
            // that `expr` itself be a `Cache`.
            let source = internal_at("__cache_source", span);
            let borrow = quote_spanned!(span=> &(#expr));
            quote! {
                let #source = #borrow;
                let #var: &#krate::Cache = #source;
            }
        }
        None => quote!(let #var: &#krate::Cache = #krate::global();),
    }
}
