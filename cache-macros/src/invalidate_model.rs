//! `#[invalidate]`, parsed and checked: its templates validated against the function's
//! signature, every error collected, into a description `expand_invalidate.rs` generates from.

use proc_macro2::{Span, TokenStream};
use syn::Expr;

use crate::args::{self, InvalidateArgs};
use crate::errors::Errors;
use crate::item::LightFn;
use crate::params::Params;
use crate::ret::Ret;
use crate::template::Template;

/// A checked `#[invalidate]` attribute.
pub(crate) struct InvalidateModel {
    /// The path of `cache_core`.
    pub(crate) krate: TokenStream,
    /// The `cache = ...` expression, if any.
    pub(crate) cache: Option<Expr>,
    pub(crate) keys: Vec<Template>,
    pub(crate) patterns: Vec<Template>,
    pub(crate) tags: Vec<Template>,
    pub(crate) all: bool,
    /// Invalidate before the body runs (else after it returns).
    pub(crate) before: bool,
    /// The function returns a `Result`: invalidate after `Ok` only.
    pub(crate) returns_result: bool,
}

impl InvalidateModel {
    /// Parses and checks the attribute's arguments against `function`, reporting every
    /// problem at once.
    pub(crate) fn parse(args: TokenStream, function: &LightFn) -> syn::Result<Self> {
        let args: InvalidateArgs = args::parse(args)?;
        let params = Params::of(&function.sig);
        let mut errors = Errors::default();
        let mut parse_all = |lits: &[syn::LitStr]| -> Vec<Template> {
            lits.iter()
                .filter_map(|lit| errors.take(Template::parse(lit, &params)))
                .collect()
        };
        let keys = parse_all(&args.keys.0);
        let patterns = parse_all(&args.pattern.0);
        let tags = parse_all(&args.tags.0);
        if args.keys.0.is_empty()
            && args.pattern.0.is_empty()
            && args.tags.0.is_empty()
            && !args.all
        {
            errors.push(syn::Error::new(
                Span::call_site(),
                "#[invalidate] has nothing to invalidate: give `keys = [..]`, `pattern = \"..\"`, \
                 `tags = [..]` or `all = true`",
            ));
        }
        errors.finish()?;
        Ok(Self {
            krate: args::crate_path(args.krate.as_ref()),
            cache: args.cache,
            keys,
            patterns,
            tags,
            all: args.all,
            before: args.before,
            returns_result: Ret::is_result(&function.sig.output),
        })
    }
}
