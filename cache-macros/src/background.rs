//! Background refresh-ahead for functions whose arguments are all owned.
//!
//! A refresh must outlive the call that triggered it, so it can run in the background only
//! when everything the body needs can be owned by a task: the function takes no `self`, has no
//! generics, and each argument is a plain name with an owned type (no reference, lifetime,
//! `impl Trait` or `Self`). Then the body moves into an inner function, the normal path calls
//! it with the arguments, and a hit past the refresh point calls it with clones of them in a
//! spawned task while the caller returns the current value. Every other function refreshes
//! inline: the first caller past the refresh point reloads, the others keep the current value.

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::quote;
use syn::{FnArg, Pat};

use crate::item::LightFn;

use crate::body::internal;

/// The inner function holding the body, and how to call it.
pub(crate) struct Background {
    /// `async fn __cache_inner(args..) -> R { body }`
    pub(crate) inner_fn: TokenStream,
    /// The inner function's name.
    pub(crate) inner: Ident,
    /// The arguments, in order.
    pub(crate) args: Vec<Ident>,
}

/// Whether `tokens` mention something a task cannot own: a reference, a lifetime, `impl`,
/// `self` or `Self`.
fn borrows(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Punct(punct) => punct.as_char() == '&' || punct.as_char() == '\'',
        TokenTree::Ident(ident) => ident == "impl" || ident == "self" || ident == "Self",
        TokenTree::Group(group) => borrows(group.stream()),
        TokenTree::Literal(_) => false,
    })
}

/// The background plan for `function`, or `None` when it must refresh inline.
pub(crate) fn plan(function: &LightFn) -> Option<Background> {
    let sig = &function.sig;
    if !sig.generics.params.is_empty()
        || sig.generics.where_clause.is_some()
        || sig.unsafety.is_some()
        || sig.abi.is_some()
        || sig.constness.is_some()
        || sig.variadic.is_some()
    {
        return None;
    }
    let mut args = Vec::new();
    for input in &sig.inputs {
        let FnArg::Typed(typed) = input else {
            return None;
        };
        let Pat::Ident(pat) = &*typed.pat else {
            return None;
        };
        if pat.by_ref.is_some() || pat.subpat.is_some() || borrows(quote!(#typed)) {
            return None;
        }
        args.push(pat.ident.clone());
    }
    let (block, output) = (&function.block, &sig.output);
    if borrows(quote!(#output)) || mentions_self(quote!(#block)) {
        return None;
    }
    let inner = internal("__cache_inner");
    let (asyncness, inputs) = (&sig.asyncness, &sig.inputs);
    let inner_fn = quote! {
        #[allow(clippy::too_many_arguments)]
        #asyncness fn #inner(#inputs) #output #block
    };
    Some(Background {
        inner_fn,
        inner,
        args,
    })
}

/// Whether `tokens` name `self` or `Self` (which an inner function cannot see).
fn mentions_self(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => ident == "self" || ident == "Self",
        TokenTree::Group(group) => mentions_self(group.stream()),
        _ => false,
    })
}
