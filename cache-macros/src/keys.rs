//! The key of a `#[cached]` function: the parts the call passes to the engine (a tuple of
//! checked references, hashed and compared there) and the pieces of its `static` template
//! (rendered there, on a miss only).
//!
//! Each part is checked by `cache_core::__private::part_check::<Name, _>` at the span of the
//! argument (or template), where `Name` is a marker type named after the argument: a part that
//! cannot be in a key is reported once, there, with a message naming the argument.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use crate::params::Params;
use crate::template::{Piece, Template};

/// One part of the key: a borrowed value.
struct Part {
    /// The marker type naming the argument in diagnostics.
    marker: Ident,
    /// A reference to the part's borrowed form.
    borrowed: TokenStream,
    span: Span,
    /// The placeholder text (`query.user_id`) for template parts.
    text: Option<String>,
    /// What the part names: the placeholder text, or the argument's name for the default key.
    name: String,
}

/// The parts of a key and its template's pieces.
pub(crate) struct Key {
    parts: Vec<Part>,
    template: Option<Template>,
    krate: TokenStream,
}

/// A marker type named `name` (raw if `name` is a keyword).
fn marker(name: &str) -> Ident {
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        Ident::new(&format!("_{name}"), Span::mixed_site())
    } else if syn::parse_str::<Ident>(name).is_ok() {
        Ident::new(name, Span::mixed_site())
    } else {
        Ident::new_raw(name, Span::mixed_site())
    }
}

impl Key {
    /// Every named argument, in order (the default key).
    pub(crate) fn default_key(params: &Params, krate: &TokenStream) -> syn::Result<Self> {
        if let Some(unnamed) = params.unnamed.first() {
            return Err(syn::Error::new(
                unnamed.span,
                format!(
                    "argument `{}` has no name to put in the default cache key: bind it to a name, \
                     or choose the key parts with `key = \"...\"`",
                    unnamed.text
                ),
            ));
        }
        let parts = params
            .named
            .iter()
            .map(|param| {
                let span = param.ident.span();
                Part {
                    marker: marker(&param.name()),
                    borrowed: param.borrowed(span),
                    span,
                    text: None,
                    name: param.name(),
                }
            })
            .collect();
        Ok(Self {
            parts,
            template: None,
            krate: krate.clone(),
        })
    }

    /// The parts named by a `key = "..."` template (each distinct placeholder once).
    pub(crate) fn from_template(template: Template, krate: &TokenStream) -> Self {
        let span = template.span();
        let mut parts: Vec<Part> = Vec::new();
        for var in template.vars() {
            if parts
                .iter()
                .any(|part| part.text.as_deref() == Some(&var.text))
            {
                continue;
            }
            parts.push(Part {
                marker: marker(var.argument()),
                borrowed: var.borrowed(span),
                span,
                text: Some(var.text.clone()),
                name: var.text.clone(),
            });
        }
        Self {
            parts,
            template: Some(template),
            krate: krate.clone(),
        }
    }

    /// What each part names, in order: an argument (`id`) or a path (`query.user_id`).
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().map(|part| part.name.as_str())
    }

    /// The marker types the parts name, declared once each.
    pub(crate) fn markers(&self) -> TokenStream {
        let mut markers: Vec<&Ident> = Vec::new();
        for part in &self.parts {
            if !markers.contains(&&part.marker) {
                markers.push(&part.marker);
            }
        }
        quote! {
            #(
                #[allow(dead_code, non_camel_case_types)]
                struct #markers {}
            )*
        }
    }

    /// The tuple of checked references the call passes: `(part_check::<id, _>(&id), ..)`.
    pub(crate) fn parts(&self) -> TokenStream {
        let krate = &self.krate;
        let parts = self.parts.iter().map(|part| {
            let Part {
                marker,
                borrowed,
                span,
                ..
            } = part;
            quote_spanned!(*span=> #krate::__private::part_check::<#marker, _>(#borrowed),)
        });
        quote!((#(#parts)*))
    }

    /// The template's pieces after the prefix: `":", part 0, ":", part 1..` for the default key.
    pub(crate) fn pieces(&self) -> TokenStream {
        let krate = &self.krate;
        let text = |text: &str| quote!(#krate::__private::Piece::Text(#text));
        let part = |index: usize| quote!(#krate::__private::Piece::Part(#index));
        let mut pieces = Vec::new();
        match &self.template {
            None => {
                for index in 0..self.parts.len() {
                    pieces.push(text(":"));
                    pieces.push(part(index));
                }
            }
            Some(template) => {
                pieces.push(text(":"));
                for piece in &template.pieces {
                    pieces.push(match piece {
                        Piece::Text(literal) => text(literal),
                        Piece::Var(var) => part(
                            self.parts
                                .iter()
                                .position(|part| part.text.as_deref() == Some(&var.text))
                                .expect("every placeholder has a part"),
                        ),
                    });
                }
            }
        }
        quote!(&[#(#pieces),*])
    }
}
