//! Templates rendered at run time by `cache_core` (tags, glob patterns and full keys): the
//! generated code passes the template's pieces and a tuple of its values, each checked for
//! `Display` at the template's span; core renders them exactly as it renders `#[cached]` keys,
//! so every interpolated value is escaped and the literal text is kept as is.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use crate::template::{Piece, Template};

/// The template's pieces (`text` pieces as given, `Part(i)` for the i-th distinct placeholder)
/// and the tuple of its distinct values.
fn pieces_and_values(
    pieces: &[Piece],
    template: &Template,
    krate: &TokenStream,
) -> (TokenStream, TokenStream) {
    let span = template.span();
    let mut vars: Vec<&str> = Vec::new();
    let mut values = Vec::new();
    let pieces = pieces.iter().map(|piece| match piece {
        Piece::Text(text) => quote!(#krate::__private::Piece::Text(#text)),
        Piece::Var(var) => {
            let index = match vars.iter().position(|seen| *seen == var.text) {
                Some(index) => index,
                None => {
                    vars.push(&var.text);
                    let value = var.display(span);
                    values.push(quote_spanned!(span=> #krate::__private::template_value(#value),));
                    vars.len() - 1
                }
            };
            quote!(#krate::__private::Piece::Part(#index))
        }
    });
    let pieces: Vec<TokenStream> = pieces.collect();
    (quote!(&[#(#pieces),*]), quote!((#(#values)*)))
}

/// A `String` expression: the template with every placeholder escaped (tags and patterns).
pub(crate) fn string(template: &Template, krate: &TokenStream) -> TokenStream {
    if template.vars().next().is_none() {
        let text = literal_text(template);
        return quote!(::std::string::String::from(#text));
    }
    let (pieces, values) = pieces_and_values(&template.pieces, template, krate);
    quote!(#krate::__private::render_text(#pieces, #values))
}

/// A full key (`keys = ["user:profile:{id}"]`), rendered like `#[cached]` renders its keys so
/// that over-long keys hash the same way: the literal text before the first placeholder, up to
/// its last `:`, is the key's prefix.
pub(crate) fn key(template: &Template, krate: &TokenStream) -> TokenStream {
    if template.vars().next().is_none() {
        let text = literal_text(template);
        return quote!(::std::string::String::from(#text));
    }
    let mut pieces = template.pieces.clone();
    let prefix = match pieces.first_mut() {
        Some(Piece::Text(text)) => match text.rfind(':') {
            Some(colon) => {
                let prefix = text[..colon].to_owned();
                *text = text[colon..].to_owned();
                prefix
            }
            None => String::new(),
        },
        _ => String::new(),
    };
    let (pieces, values) = pieces_and_values(&pieces, template, krate);
    quote! {{
        static KEY: #krate::__private::KeyTemplate =
            #krate::__private::KeyTemplate::new(#prefix, #pieces);
        #krate::__private::render_key(&KEY, #values)
    }}
}

fn literal_text(template: &Template) -> String {
    template
        .pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(text) => text.as_str(),
            Piece::Var(_) => "",
        })
        .collect()
}
