//! `#[cache_put]`, parsed and checked: the key arguments of `#[cached]` against the function's
//! signature, every error collected.

use proc_macro2::TokenStream;
use syn::Expr;
use syn::LitStr;
use syn::spanned::Spanned;

use crate::args::{self, KeyArgs, LevelArg, Str};
use crate::cached_model::key_and_tags;
use crate::errors::Errors;
use crate::item::LightFn;
use crate::keys::Key;
use crate::params::Params;
use crate::ret::{Ret, Shape, borrowed_error, borrowed_part, has_impl_trait};
use crate::template::Template;
use crate::ttl::Ttl;

/// A checked `#[cache_put]` function.
pub(crate) struct PutModel {
    pub(crate) krate: TokenStream,
    pub(crate) cache: Option<Expr>,
    pub(crate) target: Target,
    pub(crate) tags: Vec<Template>,
    pub(crate) ttl: Option<Ttl>,
    pub(crate) ret: Ret,
}

/// Where the value goes: the entry of a `#[cached]` reader, or a key given here.
pub(crate) enum Target {
    /// `#[cache_put(reader)]`: the reader's prefix, key, level and cache (tags and TTL too,
    /// unless given here).
    Reader(syn::Path),
    /// `#[cache_put(key_prefix = .., key = .., level = ..)]`.
    Key {
        prefix: LitStr,
        key: Key,
        level: LevelArg,
    },
}

impl PutModel {
    /// Parses and checks the attribute's arguments against `function`.
    pub(crate) fn parse(args: TokenStream, function: &LightFn) -> syn::Result<Self> {
        let (reader, args): (Option<syn::Path>, KeyArgs) = args::parse_put(args)?;
        let krate = args::crate_path(args.krate.as_ref());
        let params = Params::of(&function.sig);
        let ret = Ret::of(&function.sig.output, false);
        let mut errors = Errors::default();

        let nothing = matches!(&ret.ty, syn::Type::Tuple(tuple) if tuple.elems.is_empty())
            || matches!(
                ret.shape,
                Shape::Result | Shape::ResultOption | Shape::Option
            ) && matches!(&ret.value, syn::Type::Tuple(tuple) if tuple.elems.is_empty());
        if nothing {
            let span = match (&function.sig.output, &ret.shape) {
                (
                    syn::ReturnType::Type(..),
                    Shape::Result | Shape::ResultOption | Shape::Option,
                ) => ret.value.span(),
                (syn::ReturnType::Type(_, ty), Shape::Plain) => ty.span(),
                (syn::ReturnType::Default, _) => function.sig.ident.span(),
            };
            errors.push(syn::Error::new(
                span,
                "#[cache_put] stores what the function returns (the `Ok` of a `Result`, the \
                 `Some` of an `Option`, or the value), and this function returns nothing to \
                 store",
            ));
        }
        if has_impl_trait(&ret.ty) {
            errors.push(syn::Error::new(
                ret.ty.span(),
                "#[cache_put] cannot store a value of an `impl Trait` type: return a concrete type",
            ));
        }
        if let Some(span) = borrowed_part(&ret.value) {
            errors.push(borrowed_error(span, "cache_put"));
        }
        if reader.is_some() {
            return Self::with_reader(reader, args, params, ret, krate, errors);
        }
        let prefix = match &args.key_prefix {
            Some(Str(prefix)) if prefix.value().is_empty() => {
                errors.push(syn::Error::new(
                    prefix.span(),
                    "`key_prefix` must not be empty",
                ));
                None
            }
            Some(Str(prefix)) => Some(prefix.clone()),
            None => {
                errors.push(syn::Error::new(
                    proc_macro2::Span::call_site(),
                    "#[cache_put] needs the `key_prefix` of the `#[cached]` function whose \
                     entries it writes, e.g. `#[cache_put(key_prefix = \"user\", key = \
                     \"{id}\")]`",
                ));
                None
            }
        };
        let (key, tags) = key_and_tags(args.key.as_ref(), &args.tags, &params, &krate, &mut errors);
        errors.finish()?;
        Ok(Self {
            krate,
            cache: args.cache,
            target: Target::Key {
                prefix: prefix.expect("no error means a prefix"),
                key: key.expect("no error means a key"),
                level: args.level.unwrap_or(LevelArg::Both),
            },
            tags,
            ttl: args.ttl,
            ret,
        })
    }

    /// `#[cache_put(reader, ..)]`: the key, prefix and level are the reader's.
    fn with_reader(
        reader: Option<syn::Path>,
        args: KeyArgs,
        params: Params,
        ret: Ret,
        krate: TokenStream,
        mut errors: Errors,
    ) -> syn::Result<Self> {
        let taken = [
            (
                "key_prefix",
                args.key_prefix.as_ref().map(|Str(lit)| lit.span()),
            ),
            ("key", args.key.as_ref().map(|Str(lit)| lit.span())),
        ];
        for (name, span) in taken {
            if let Some(span) = span {
                errors.push(syn::Error::new(
                    span,
                    format!(
                        "`{name}` comes from the reader named first: leave it out, or leave the \
                         reader out and give `key_prefix` and `key`"
                    ),
                ));
            }
        }
        if args.level.is_some() {
            errors.push(syn::Error::new(
                proc_macro2::Span::call_site(),
                "`level` comes from the reader named first: leave it out",
            ));
        }
        let tags = args
            .tags
            .0
            .iter()
            .filter_map(|lit| errors.take(Template::parse(lit, &params)))
            .collect();
        errors.finish()?;
        Ok(Self {
            krate,
            cache: args.cache,
            target: Target::Reader(reader.expect("called with a reader")),
            tags,
            ttl: args.ttl,
            ret,
        })
    }
}
