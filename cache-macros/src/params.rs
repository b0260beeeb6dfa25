//! The arguments of the annotated function, as the key and templates see them.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Pat, Signature, Type};

/// A function argument bound to a plain name (`id: u64`, `mut name: String`, `q: &Query`).
#[derive(Debug, Clone)]
pub(crate) struct Param {
    pub(crate) ident: Ident,
    /// The type is a reference (`&T`, `&mut T`): its key part is `*ident`.
    pub(crate) by_ref: bool,
}

impl Param {
    /// The argument's name without `r#`.
    pub(crate) fn name(&self) -> String {
        self.ident.unraw().to_string()
    }

    /// A reference to the argument's borrowed form (`&*name` for `name: &str`, `&id` for
    /// `id: u64`), with its tokens spanned at `span`.
    pub(crate) fn borrowed(&self, span: Span) -> TokenStream {
        let mut ident = self.ident.clone();
        ident.set_span(span);
        if self.by_ref {
            quote_spanned!(span=> &*#ident)
        } else {
            quote_spanned!(span=> &#ident)
        }
    }
}

/// An argument bound by a pattern other than a plain name (`(a, b): (u8, u8)`, `_: u8`).
#[derive(Debug, Clone)]
pub(crate) struct Unnamed {
    pub(crate) span: Span,
    pub(crate) text: String,
}

/// All arguments of a function.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    /// The function takes `self` in some form.
    pub(crate) receiver: bool,
    /// Named arguments, receiver excluded, in order.
    pub(crate) named: Vec<Param>,
    /// Arguments bound by other patterns, in order.
    pub(crate) unnamed: Vec<Unnamed>,
}

fn is_reference(ty: &Type) -> bool {
    match ty {
        Type::Reference(_) => true,
        Type::Paren(inner) => is_reference(&inner.elem),
        Type::Group(inner) => is_reference(&inner.elem),
        _ => false,
    }
}

impl Params {
    pub(crate) fn of(sig: &Signature) -> Self {
        let mut params = Params {
            receiver: false,
            named: Vec::new(),
            unnamed: Vec::new(),
        };
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(_) => params.receiver = true,
                FnArg::Typed(typed) => match &*typed.pat {
                    Pat::Ident(pat) if pat.subpat.is_none() && pat.by_ref.is_none() => {
                        params.named.push(Param {
                            ident: pat.ident.clone(),
                            by_ref: is_reference(&typed.ty),
                        })
                    }
                    pat => {
                        let pat_tokens = quote!(#pat);
                        params.unnamed.push(Unnamed {
                            span: pat.span(),
                            text: pat_tokens.to_string(),
                        })
                    }
                },
            }
        }
        params
    }

    /// The named argument called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Param> {
        self.named.iter().find(|param| param.name() == name)
    }

    /// The names a template may use, for error messages.
    pub(crate) fn available(&self) -> String {
        let mut names: Vec<String> = self
            .named
            .iter()
            .map(|p| format!("`{}`", p.name()))
            .collect();
        if self.receiver {
            names.push("`self.<field>`".to_owned());
        }
        if names.is_empty() {
            "the function has no named arguments".to_owned()
        } else {
            format!("available: {}", names.join(", "))
        }
    }
}
