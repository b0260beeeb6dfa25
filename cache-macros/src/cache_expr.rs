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

/// Like [`bind`], for a function with a `condition`: the expression is evaluated only when
/// `holds` (a `bool` variable) is true, giving `let {var}: Option<&Cache> = ..;`.
pub(crate) fn bind_if(
    expr: Option<&Expr>,
    krate: &TokenStream,
    var: &Ident,
    holds: &Ident,
) -> TokenStream {
    let option = quote!(::core::option::Option);
    match expr {
        Some(expr) => {
            let span = expr.span();
            let source = internal_at("__cache_source", span);
            let borrowed = internal_at("__cache_borrowed", span);
            let borrow = quote_spanned!(span=> &(#expr));
            // The braced `Some { 0: .. }` keeps a temporary the expression creates alive to the
            // end of the function, as `let source = &(expr);` does (a call-like `Some(..)` does
            // so only from Rust 1.89 on).
            quote! {
                let #source = if #holds {
                    #option::Some { 0: #borrow }
                } else {
                    #option::None
                };
                let #var: #option<&#krate::Cache> = match #source {
                    #option::Some(#borrowed) => #option::Some(#borrowed),
                    #option::None => #option::None,
                };
            }
        }
        None => quote! {
            let #var: #option<&#krate::Cache> = if #holds {
                #option::Some(#krate::global())
            } else {
                #option::None
            };
        },
    }
}
