//! `#[cached]`, parsed and checked: every argument validated against the function's
//! signature, with every error collected, into a description the code generator
//! (`expand_cached.rs`) turns into tokens without further checks.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Expr, LitStr};

use crate::args::{self, CachedArgs, Fraction, LevelArg, Str, Templates};
use crate::companions::Companions;
use crate::errors::Errors;
use crate::item::LightFn;
use crate::keys::Key;
use crate::params::Params;
use crate::refresh::{self, Refresh};
use crate::ret::{Ret, borrowed_error, borrowed_part, has_impl_trait};
use crate::template::Template;
use crate::ttl::Ttl;

/// A checked `#[cached]` function.
pub(crate) struct CachedModel {
    /// The path of `cache_core`.
    pub(crate) krate: TokenStream,
    /// The `cache = ...` expression, if any.
    pub(crate) cache: Option<Expr>,
    /// The literal key prefix, or the default (module path and function name).
    pub(crate) prefix: Prefix,
    pub(crate) key: Key,
    pub(crate) tags: Vec<Template>,
    pub(crate) ttl: Option<Ttl>,
    pub(crate) refresh_ahead: Option<Fraction>,
    pub(crate) level: LevelArg,
    /// The `weight = ...` weigher, if any.
    pub(crate) weight: Option<Expr>,
    /// `condition = ...`: evaluated first; false runs the body without the cache.
    pub(crate) condition: Option<Expr>,
    /// `unless = ...`: a loaded value it is true for is not stored.
    pub(crate) unless: Option<Expr>,
    /// The companion functions, unless `companions = false` or an argument is not a plain
    /// name.
    pub(crate) companions: Option<Companions>,
    pub(crate) ret: Ret,
    /// How a hit past its refresh point reloads (`refresh.rs`).
    pub(crate) refresh: Refresh,
}

/// The key prefix.
pub(crate) enum Prefix {
    Literal(LitStr),
    /// `module_path!()` + `::` + this function name.
    Default(String),
}

impl Prefix {
    /// The `key_prefix` argument (an empty one is an error), or the default for `function`.
    pub(crate) fn of(key_prefix: Option<Str>, function: &LightFn, errors: &mut Errors) -> Self {
        match key_prefix {
            Some(Str(prefix)) => {
                if prefix.value().is_empty() {
                    errors.push(syn::Error::new(
                        prefix.span(),
                        "`key_prefix` must not be empty (leave it out for the default: module \
                         path and function name)",
                    ));
                }
                Prefix::Literal(prefix)
            }
            None => Prefix::Default(format!("::{}", function.sig.ident.unraw())),
        }
    }

    /// The prefix as a `&'static str` expression.
    pub(crate) fn tokens(&self) -> TokenStream {
        match self {
            Prefix::Literal(prefix) => quote!(#prefix),
            Prefix::Default(name) => quote!(::core::concat!(::core::module_path!(), #name)),
        }
    }
}

/// The key (from `key = "..."`, or every argument) and the tag templates, checked against
/// the function's arguments; `None` for a key with errors (collected in `errors`).
pub(crate) fn key_and_tags(
    key: Option<&Str>,
    tags: &Templates,
    params: &Params,
    krate: &TokenStream,
    errors: &mut Errors,
) -> (Option<Key>, Vec<Template>) {
    let key = match key {
        Some(Str(lit)) => errors
            .take(Template::parse(lit, params))
            .map(|template| Key::from_template(template, krate)),
        None => errors.take(Key::default_key(params, krate)),
    };
    let tags = tags
        .0
        .iter()
        .filter_map(|lit| errors.take(Template::parse(lit, params)))
        .collect();
    (key, tags)
}

impl CachedModel {
    /// Parses and checks the attribute's arguments against `function`, reporting every
    /// problem at once.
    pub(crate) fn parse(args: TokenStream, function: &LightFn) -> syn::Result<Self> {
        let args: CachedArgs = args::parse(args)?;
        let krate = args::crate_path(args.krate.as_ref());
        let params = Params::of(&function.sig);
        let ret = Ret::of(&function.sig.output, args.cache_none);
        let mut errors = Errors::default();

        if has_impl_trait(&ret.ty) {
            errors.push(syn::Error::new(
                ret.ty.span(),
                "#[cached] cannot cache a value of an `impl Trait` type: return a concrete type",
            ));
        }
        if let Some(span) = borrowed_part(&ret.value) {
            errors.push(borrowed_error(span, "cached"));
        }
        let prefix = Prefix::of(args.key_prefix, function, &mut errors);
        let (key, tags) = key_and_tags(args.key.as_ref(), &args.tags, &params, &krate, &mut errors);
        errors.finish()?;

        let companions = match args.companions {
            Some(false) => None,
            _ => Companions::of(function),
        };
        let refresh = refresh::plan(
            args.refresh_ahead,
            args.refresh,
            companions.as_ref(),
            &function.sig,
        );
        Ok(Self {
            krate,
            cache: args.cache,
            prefix,
            key: key.expect("no error means a key"),
            tags,
            ttl: args.ttl,
            refresh_ahead: args.refresh_ahead,
            level: args.level.unwrap_or(LevelArg::Both),
            weight: args.weight,
            condition: args.condition,
            unless: args.unless,
            companions,
            ret,
            refresh,
        })
    }

    /// The prefix as a `&'static str` expression.
    pub(crate) fn prefix_tokens(&self) -> TokenStream {
        self.prefix.tokens()
    }
}
