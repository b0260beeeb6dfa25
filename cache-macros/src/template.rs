//! Templates such as `"{id}:{page}"` or `"user:{query.user_id}"`: literal text with
//! placeholders naming arguments (or `self` fields), checked against the signature.
//!
//! `{{` and `}}` stand for literal braces.

use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;
use syn::LitStr;
use syn::ext::IdentExt;
use syn::parse::Parser;

use crate::params::{Param, Params};

/// A parsed template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) lit: LitStr,
    pub(crate) pieces: Vec<Piece>,
}

/// Literal text or a placeholder.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Text(String),
    Var(Var),
}

/// A checked placeholder: an argument or `self`, then field accesses.
#[derive(Debug, Clone)]
pub(crate) struct Var {
    root: Root,
    fields: Vec<syn::Member>,
    /// The placeholder as written, without braces (`query.user_id`): identifies the value.
    pub(crate) text: String,
}

#[derive(Debug, Clone)]
enum Root {
    SelfValue,
    Param(Param),
}

impl Var {
    fn path(&self, span: Span) -> TokenStream {
        let root = match &self.root {
            Root::SelfValue => quote_spanned!(span=> self),
            Root::Param(param) => {
                let mut ident = param.ident.clone();
                ident.set_span(span);
                quote_spanned!(span=> #ident)
            }
        };
        let fields = self.fields.iter().map(|field| {
            let mut field = field.clone();
            match &mut field {
                syn::Member::Named(ident) => ident.set_span(span),
                syn::Member::Unnamed(index) => index.span = span,
            }
            field
        });
        quote_spanned!(span=> #root #(.#fields)*)
    }

    /// The argument the placeholder starts from (the first field for `self.field..`).
    pub(crate) fn argument(&self) -> &str {
        match &self.root {
            Root::Param(_) => self.text.split('.').next().unwrap_or_default(),
            Root::SelfValue => self.text.split('.').nth(1).unwrap_or("self_"),
        }
    }

    /// A reference to the value in the form it is hashed and compared in a key: the
    /// referent for a reference argument (`&*name`), else the value (`&id`, `&query.user_id`).
    pub(crate) fn borrowed(&self, span: Span) -> TokenStream {
        match (&self.root, self.fields.is_empty()) {
            (Root::Param(param), true) => param.borrowed(span),
            _ => {
                let path = self.path(span);
                quote_spanned!(span=> &#path)
            }
        }
    }

    /// A reference to a value with `Display` (for rendering).
    pub(crate) fn display(&self, span: Span) -> TokenStream {
        let path = self.path(span);
        quote_spanned!(span=> &#path)
    }
}

impl Template {
    /// Parses `lit`, checking every placeholder against `params`.
    pub(crate) fn parse(lit: &LitStr, params: &Params) -> syn::Result<Self> {
        let text = lit.value();
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(syn::Error::new(
                        lit.span(),
                        format!(
                            "unmatched `}}` in template {text:?} (write `}}}}` for a literal brace)"
                        ),
                    ));
                }
                '{' => {
                    let mut inner = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        inner.push(c);
                    }
                    if !closed {
                        return Err(syn::Error::new(
                            lit.span(),
                            format!(
                                "unclosed `{{` in template {text:?} (write `{{{{` for a literal brace)"
                            ),
                        ));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Var(parse_var(&inner, lit, params)?));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Self {
            lit: lit.clone(),
            pieces,
        })
    }

    /// The template's placeholders.
    pub(crate) fn vars(&self) -> impl Iterator<Item = &Var> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Var(var) => Some(var),
            Piece::Text(_) => None,
        })
    }

    pub(crate) fn span(&self) -> Span {
        self.lit.span()
    }
}

fn parse_var(inner: &str, lit: &LitStr, params: &Params) -> syn::Result<Var> {
    let bad_path = || {
        syn::Error::new(
            lit.span(),
            format!(
                "invalid placeholder `{{{inner}}}` in template {:?}: expected an argument name, \
                 optionally followed by `.field` segments, such as `{{id}}` or `{{query.user_id}}`",
                lit.value()
            ),
        )
    };
    if inner.trim().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "empty placeholder `{{{inner}}}` in template {:?}: name an argument, such as `{{id}}`",
                lit.value()
            ),
        ));
    }
    let mut segments = inner.split('.');
    let root_text = segments.next().unwrap_or_default();
    let root_ident = syn::Ident::parse_any
        .parse_str(root_text)
        .map_err(|_| bad_path())?;
    let fields = segments
        .map(|segment| syn::parse_str::<syn::Member>(segment).map_err(|_| bad_path()))
        .collect::<syn::Result<Vec<_>>>()?;
    let root_name = root_ident.unraw().to_string();
    let root = if root_name == "self" && params.receiver {
        if fields.is_empty() {
            return Err(syn::Error::new(
                lit.span(),
                "`{self}` cannot be interpolated: name a field of it, such as `{self.id}`",
            ));
        }
        Root::SelfValue
    } else if let Some(param) = params.get(&root_name) {
        Root::Param(param.clone())
    } else {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "unknown name `{root_name}` in template {:?}: placeholders must name an argument \
                 of the function ({})",
                lit.value(),
                params.available()
            ),
        ));
    };
    let text = std::iter::once(root_name)
        .chain(fields.iter().map(|field| match field {
            syn::Member::Named(ident) => ident.to_string(),
            syn::Member::Unnamed(index) => index.index.to_string(),
        }))
        .collect::<Vec<_>>()
        .join(".");
    Ok(Var { root, fields, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        let sig: syn::Signature =
            syn::parse_quote!(fn f(&self, id: u64, name: &str, query: Query, r#type: u8));
        Params::of(&sig)
    }

    fn parse(template: &str) -> syn::Result<Template> {
        Template::parse(&LitStr::new(template, Span::call_site()), &params())
    }

    fn vars(template: &str) -> Vec<String> {
        parse(template)
            .unwrap()
            .vars()
            .map(|var| var.text.clone())
            .collect()
    }

    #[test]
    fn placeholders_and_text() {
        assert_eq!(vars("{id}:{name}"), ["id", "name"]);
        assert_eq!(
            vars("u:{query.user_id}-{query.0}"),
            ["query.user_id", "query.0"]
        );
        assert_eq!(vars("{self.tenant}/{type}"), ["self.tenant", "type"]);
        assert_eq!(vars("plain"), Vec::<String>::new());
        let template = parse("a{{b}}{id}").unwrap();
        assert!(matches!(&template.pieces[0], Piece::Text(text) if text == "a{b}"));
    }

    #[test]
    fn errors() {
        for (template, message) in [
            ("{}", "empty placeholder"),
            ("{id.}", "invalid placeholder"),
            ("{.id}", "invalid placeholder"),
            ("{id", "unclosed"),
            ("id}", "unmatched"),
            ("{user}", "unknown name `user`"),
            ("{self}", "name a field"),
            ("{id-x}", "invalid placeholder"),
        ] {
            let error = parse(template).unwrap_err().to_string();
            assert!(error.contains(message), "{template}: {error}");
        }
    }
}
