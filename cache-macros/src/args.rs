//! The arguments of `#[cached(...)]`, `#[cache_put(...)]`, `#[cached_batch(...)]` and
//! `#[invalidate(...)]`, parsed with darling.

use darling::FromMeta;
use darling::ast::NestedMeta;
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, ExprLit, Lit, LitStr};

use crate::ttl::Ttl;

/// Arguments of `#[cached(...)]`.
#[derive(Debug, FromMeta)]
pub(crate) struct CachedArgs {
    pub(crate) ttl: Option<Ttl>,
    pub(crate) key_prefix: Option<Str>,
    pub(crate) key: Option<Str>,
    #[darling(default)]
    pub(crate) tags: Templates,
    pub(crate) refresh_ahead: Option<Fraction>,
    /// `refresh = "inline"`: the caller that claims a refresh reloads (`refresh.rs`).
    pub(crate) refresh: Option<RefreshArg>,
    #[darling(default)]
    pub(crate) cache_none: bool,
    pub(crate) level: Option<LevelArg>,
    pub(crate) cache: Option<Expr>,
    /// `weight = <fn(&V) -> usize>`: a path or a closure.
    pub(crate) weight: Option<Expr>,
    /// `condition = <bool expression over the arguments>`: false bypasses the cache.
    pub(crate) condition: Option<Expr>,
    /// `unless = <Fn(&V) -> bool>`: true keeps a loaded value out of the cache.
    pub(crate) unless: Option<Expr>,
    /// `companions = false`: no `_uncached`, `_invalidate`, `_refresh` functions.
    pub(crate) companions: Option<bool>,
    #[darling(rename = "crate")]
    pub(crate) krate: Option<syn::Path>,
}

/// The key arguments of `#[cached]`: the arguments of `#[cache_put(...)]` and
/// `#[cached_batch(...)]`.
#[derive(Debug, FromMeta)]
pub(crate) struct KeyArgs {
    pub(crate) ttl: Option<Ttl>,
    pub(crate) key_prefix: Option<Str>,
    pub(crate) key: Option<Str>,
    #[darling(default)]
    pub(crate) tags: Templates,
    pub(crate) level: Option<LevelArg>,
    pub(crate) cache: Option<Expr>,
    #[darling(rename = "crate")]
    pub(crate) krate: Option<syn::Path>,
}

/// Arguments of `#[invalidate(...)]`.
#[derive(Debug, FromMeta)]
pub(crate) struct InvalidateArgs {
    #[darling(default)]
    pub(crate) pattern: Templates,
    #[darling(default)]
    pub(crate) keys: Templates,
    #[darling(default)]
    pub(crate) tags: Templates,
    #[darling(default)]
    pub(crate) all: bool,
    #[darling(default)]
    pub(crate) before: bool,
    pub(crate) cache: Option<Expr>,
    #[darling(rename = "crate")]
    pub(crate) krate: Option<syn::Path>,
}

/// Parses an attribute's arguments.
pub(crate) fn parse<T: Arguments>(args: TokenStream) -> syn::Result<T> {
    parse_items(&NestedMeta::parse_meta_list(args)?)
}

/// Parses `#[cache_put(...)]`: an optional leading path (the reader, a `#[cached]` function),
/// then the named arguments.
pub(crate) fn parse_put(args: TokenStream) -> syn::Result<(Option<syn::Path>, KeyArgs)> {
    let mut items = NestedMeta::parse_meta_list(args)?;
    let reader = match items.first() {
        Some(NestedMeta::Meta(syn::Meta::Path(path))) => Some(path.clone()),
        _ => None,
    };
    if reader.is_some() {
        items.remove(0);
    }
    Ok((reader, parse_items(&items)?))
}

fn parse_items<T: Arguments>(items: &[NestedMeta]) -> syn::Result<T> {
    let known = T::NAMES;
    T::from_list(items).map_err(|errors| {
        let mut combined: Option<syn::Error> = None;
        for error in errors {
            let error = with_known_arguments(error, known);
            match &mut combined {
                Some(all) => all.combine(error),
                None => combined = Some(error),
            }
        }
        combined.unwrap_or_else(|| syn::Error::new(proc_macro2::Span::call_site(), "bad arguments"))
    })
}

/// An attribute's arguments, with the names it accepts (for the unknown-argument error).
pub(crate) trait Arguments: FromMeta {
    const NAMES: &'static [&'static str];
}

impl Arguments for CachedArgs {
    const NAMES: &'static [&'static str] = &[
        "ttl",
        "key_prefix",
        "key",
        "tags",
        "refresh_ahead",
        "refresh",
        "cache_none",
        "level",
        "weight",
        "condition",
        "unless",
        "companions",
        "cache",
        "crate",
    ];
}

impl Arguments for KeyArgs {
    const NAMES: &'static [&'static str] = &[
        "key_prefix",
        "key",
        "tags",
        "ttl",
        "level",
        "cache",
        "crate",
    ];
}

impl Arguments for InvalidateArgs {
    const NAMES: &'static [&'static str] =
        &["pattern", "keys", "tags", "all", "before", "cache", "crate"];
}

/// darling lists the accepted names of an unknown argument only when there are few of them;
/// this lists them always (a misspelt argument is the most common mistake).
fn with_known_arguments(error: darling::Error, known: &[&str]) -> syn::Error {
    let message = error.to_string();
    if message.starts_with("Unknown field") && !message.contains("Available") {
        let span = error.span();
        let known: Vec<String> = known.iter().map(|name| format!("`{name}`")).collect();
        let message = message.replacen("Unknown field", "unknown argument", 1);
        return syn::Error::new(
            span,
            format!("{message}; expected one of {}", known.join(", ")),
        );
    }
    syn::Error::from(error)
}

/// The path of `cache_core` in generated code: `::cache_core` unless `crate = "..."`.
pub(crate) fn crate_path(krate: Option<&syn::Path>) -> TokenStream {
    match krate {
        Some(path) => quote!(#path),
        None => quote!(::cache_core),
    }
}

/// A string literal argument (`key_prefix`, `key`).
#[derive(Debug, Clone)]
pub(crate) struct Str(pub(crate) LitStr);

impl FromMeta for Str {
    fn from_word() -> darling::Result<Self> {
        Err(darling::Error::custom("expected a value: `= \"...\"`"))
    }

    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => Ok(Self(lit.clone())),
            Expr::Group(group) => Self::from_expr(&group.expr),
            _ => Err(darling::Error::custom("expected a string literal").with_span(expr)),
        }
    }
}

/// One template or a list of templates: `"users"` or `["users", "user:{id}"]`.
#[derive(Debug, Default)]
pub(crate) struct Templates(pub(crate) Vec<LitStr>);

impl FromMeta for Templates {
    fn from_word() -> darling::Result<Self> {
        Err(darling::Error::custom(
            "expected a value: `= \"...\"` or `= [\"...\", ..]`",
        ))
    }

    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        let one = |expr: &Expr| match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => Ok(lit.clone()),
            _ => Err(darling::Error::custom("expected a string literal template").with_span(expr)),
        };
        match expr {
            Expr::Array(array) => {
                let mut errors = darling::Error::accumulator();
                let templates = array
                    .elems
                    .iter()
                    .filter_map(|elem| errors.handle(one(elem)))
                    .collect();
                errors.finish_with(Self(templates))
            }
            Expr::Group(group) => Self::from_expr(&group.expr),
            _ => Ok(Self(vec![one(expr)?])),
        }
    }
}

/// `refresh_ahead`: a fraction of the TTL, strictly between 0 and 1.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fraction(pub(crate) f64);

impl FromMeta for Fraction {
    fn from_word() -> darling::Result<Self> {
        Err(darling::Error::custom(
            "expected a value: a fraction of the TTL such as `refresh_ahead = 0.8`",
        ))
    }

    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        let written = quote::ToTokens::to_token_stream(expr).to_string();
        let value = match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Float(float),
                ..
            }) => float.base10_parse::<f64>().ok(),
            Expr::Lit(ExprLit {
                lit: Lit::Int(int), ..
            }) => int.base10_parse::<f64>().ok(),
            Expr::Group(group) => return Self::from_expr(&group.expr),
            _ => None,
        };
        match value {
            Some(fraction) if fraction > 0.0 && fraction < 1.0 => Ok(Self(fraction)),
            Some(_) => Err(darling::Error::custom(format!(
                "`refresh_ahead` must be a fraction of the TTL strictly between 0 and 1 \
                 (e.g. 0.8), not {written}"
            ))
            .with_span(expr)),
            None => Err(darling::Error::custom(
                "`refresh_ahead` must be a number strictly between 0 and 1, e.g. 0.8",
            )
            .with_span(expr)),
        }
    }
}

/// `level`: `"l1"` or `"both"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LevelArg {
    L1,
    Both,
}

impl FromMeta for LevelArg {
    fn from_word() -> darling::Result<Self> {
        Err(darling::Error::custom(
            "expected a value: `level = \"l1\"` or `level = \"both\"`",
        ))
    }

    fn from_string(value: &str) -> darling::Result<Self> {
        match value {
            "l1" => Ok(Self::L1),
            "both" => Ok(Self::Both),
            other => Err(darling::Error::custom(format!(
                "unknown `level` {other:?}: expected \"l1\" (in process only) or \"both\" (L1 and L2)"
            ))),
        }
    }
}

/// `refresh`: `"inline"`, for a function whose receiver a background reload cannot own though
/// the generated code would choose one (a `Self` with a lifetime or a type parameter without a
/// `'static` bound: the macro does not see it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshArg {
    Inline,
}

impl FromMeta for RefreshArg {
    fn from_word() -> darling::Result<Self> {
        Err(darling::Error::custom(
            "expected a value: `refresh = \"inline\"`",
        ))
    }

    fn from_string(value: &str) -> darling::Result<Self> {
        match value {
            "inline" => Ok(Self::Inline),
            other => Err(darling::Error::custom(format!(
                "unknown `refresh` {other:?}: expected \"inline\" (the caller that claims a \
                 refresh reloads); leave it out for a background reload whenever the receiver \
                 and arguments can be owned"
            ))),
        }
    }
}
