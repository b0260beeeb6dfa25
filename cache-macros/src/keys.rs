//! The key of a `#[cached]` function: its parts, how they are hashed and compared on the hit
//! path (by reference, no allocation), and how the string key is rendered on a miss.
//!
//! Every use of a part goes through a `cache_core::__private::part_*` helper bounded by
//! `KeyPart<Name>` alone, where `Name` is a marker type named after the argument, and every use
//! sits at the span of the argument (or template): a part that cannot be in a key is reported
//! once, there, with a message naming the argument.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Ident, Index};

use crate::body::{internal, internal_at};
use crate::params::Params;
use crate::template::{Piece, Template};

/// One part of the key: a borrowed value, bound to `__cache_part{i}`.
struct Part {
    /// The variable holding a reference to the part (located at `span`).
    var: Ident,
    /// The marker type naming the argument in diagnostics.
    marker: Ident,
    /// A reference to the part's borrowed form.
    borrowed: TokenStream,
    span: Span,
    /// The placeholder text (`query.user_id`) for template parts.
    text: Option<String>,
}

/// The parts of a key and how it is rendered.
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
            .enumerate()
            .map(|(index, param)| {
                let span = param.ident.span();
                Part {
                    var: internal_at(&format!("__cache_part{index}"), span),
                    marker: marker(&param.name()),
                    borrowed: param.borrowed(span),
                    span,
                    text: None,
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
                var: internal_at(&format!("__cache_part{}", parts.len()), span),
                marker: marker(var.argument()),
                borrowed: var.borrowed(span),
                span,
                text: Some(var.text.clone()),
            });
        }
        Self {
            parts,
            template: Some(template),
            krate: krate.clone(),
        }
    }

    /// The marker types, then `let __cache_part0 = ..;` for every part.
    pub(crate) fn bind(&self) -> TokenStream {
        let krate = &self.krate;
        let mut markers: Vec<&Ident> = Vec::new();
        for part in &self.parts {
            if !markers.contains(&&part.marker) {
                markers.push(&part.marker);
            }
        }
        let binds = self.parts.iter().map(|part| {
            let Part {
                var,
                marker,
                borrowed,
                span,
                ..
            } = part;
            let check =
                quote_spanned!(*span=> #krate::__private::part_check::<#marker, _>(#borrowed));
            quote!(let #var = #check;)
        });
        quote! {
            #(
                #[allow(dead_code, non_camel_case_types)]
                struct #markers {}
            )*
            #(#binds)*
        }
    }

    /// Feeds every part to `hasher`.
    pub(crate) fn hash(&self, hasher: &Ident) -> TokenStream {
        let krate = &self.krate;
        let feeds = self.parts.iter().map(|part| {
            let Part {
                var, marker, span, ..
            } = part;
            quote_spanned!(*span=> #krate::__private::part_hash::<#marker, _, _>(#var, &mut #hasher);)
        });
        quote!(#(#feeds)*)
    }

    /// A closure building the owned key tuple.
    pub(crate) fn owned_closure(&self) -> TokenStream {
        let krate = &self.krate;
        let owned = self.parts.iter().map(|part| {
            let Part {
                var, marker, span, ..
            } = part;
            quote_spanned!(*span=> #krate::__private::part_owned::<#marker, _>(#var),)
        });
        quote!(|| (#(#owned)*))
    }

    /// A closure comparing a stored key tuple with the borrowed parts.
    pub(crate) fn eq_closure(&self) -> TokenStream {
        let krate = &self.krate;
        let key = internal("__cache_key");
        if self.parts.is_empty() {
            return quote!(|_| true);
        }
        let compares = self.parts.iter().enumerate().map(|(index, part)| {
            let Part {
                var, marker, span, ..
            } = part;
            let index = Index::from(index);
            quote_spanned!(*span=> #krate::__private::part_eq::<#marker, _>(#var, &#key.#index))
        });
        quote!(|#key| #(#compares)&&*)
    }

    /// An expression rendering the string key `"{prefix}:{part}..."`.
    pub(crate) fn render(&self, prefix: &TokenStream) -> TokenStream {
        let krate = &self.krate;
        let builder = internal("__cache_key_builder");
        let push = |part: &Part, function: &str| {
            let Part {
                var, marker, span, ..
            } = part;
            let function = Ident::new(function, Span::call_site());
            quote_spanned!(*span=> #krate::__private::#function::<#marker, _>(&mut #builder, #var);)
        };
        let pushes: Vec<TokenStream> = match &self.template {
            None => self
                .parts
                .iter()
                .map(|part| push(part, "part_push"))
                .collect(),
            Some(template) => {
                let mut pushes = vec![quote!(#builder.push_literal(":");)];
                for piece in &template.pieces {
                    pushes.push(match piece {
                        Piece::Text(text) => quote!(#builder.push_literal(#text);),
                        Piece::Var(var) => {
                            let part = self
                                .parts
                                .iter()
                                .find(|part| part.text.as_deref() == Some(&var.text))
                                .expect("every placeholder has a part");
                            push(part, "part_push_escaped")
                        }
                    });
                }
                pushes
            }
        };
        quote! {{
            let mut #builder = #krate::__private::KeyBuilder::new(#prefix);
            #(#pushes)*
            #builder.finish()
        }}
    }
}
