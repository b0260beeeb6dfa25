//! Rendering templates into strings at run time: tags, glob patterns and full keys. Every
//! interpolated value is rendered with `Display` and escaped, so it can neither collide with
//! another value nor add glob syntax to a pattern; the template's literal text is kept as is.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use crate::body::internal;
use crate::template::{Piece, Template};

/// A `String` expression: the template with every placeholder escaped (tags and patterns).
pub(crate) fn string(template: &Template, krate: &TokenStream) -> TokenStream {
    if template.vars().next().is_none() {
        let text = literal_text(template);
        return quote!(::std::string::String::from(#text));
    }
    let out = internal("__cache_rendered");
    let span = template.span();
    let pushes = template.pieces.iter().map(|piece| match piece {
        Piece::Text(text) => quote!(#out.push_str(#text);),
        Piece::Var(var) => {
            let value = var.display(span);
            quote_spanned!(span=> #krate::__private::render_part(&mut #out, #value);)
        }
    });
    quote! {{
        let mut #out = ::std::string::String::new();
        #(#pushes)*
        #out
    }}
}

/// A full key (`keys = ["user:profile:{id}"]`), built like `#[cached]` builds its keys so that
/// over-long keys hash the same way: the literal text before the first placeholder, up to its
/// last `:`, is the key's prefix.
pub(crate) fn key(template: &Template, krate: &TokenStream) -> TokenStream {
    if template.vars().next().is_none() {
        let text = literal_text(template);
        return quote!(::std::string::String::from(#text));
    }
    let builder = internal("__cache_key_builder");
    let span = template.span();
    let mut pieces = template.pieces.iter().peekable();
    let prefix = match pieces.peek() {
        Some(Piece::Text(text)) => {
            pieces.next();
            match text.rfind(':') {
                Some(colon) => (text[..colon].to_owned(), text[colon..].to_owned()),
                None => (String::new(), text.clone()),
            }
        }
        _ => (String::new(), String::new()),
    };
    let (prefix, rest) = prefix;
    let pushes = pieces.map(|piece| match piece {
        Piece::Text(text) => quote!(#builder.push_literal(#text);),
        Piece::Var(var) => {
            let value = var.display(span);
            quote_spanned!(span=> #builder.push_escaped(&#krate::__private::template_value(#value));)
        }
    });
    quote! {{
        let mut #builder = #krate::__private::KeyBuilder::new(#prefix);
        #builder.push_literal(#rest);
        #(#pushes)*
        #builder.finish()
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
