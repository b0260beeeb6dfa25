//! `#[cached_batch]`, parsed and checked: the key arguments of `#[cached]` (parsed and checked by
//! the same code), the one batch argument (`Vec<K>` or `&[K]`), the map the function returns,
//! and the other arguments, which each run of the body gets a clone of. Every error is
//! collected and points at the token at fault.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Expr, FnArg, GenericArgument, Ident, Pat, PathArguments, ReturnType, Type};

use crate::args::{self, KeyArgs, LevelArg, Str};
use crate::cached_model::{Prefix, key_and_tags};
use crate::companions::{Recv, receiver_kind};
use crate::errors::Errors;
use crate::item::LightFn;
use crate::keys::Key;
use crate::params::Params;
use crate::ret::{Ret, Shape, has_impl_trait};
use crate::template::Template;
use crate::ttl::Ttl;

/// A checked `#[cached_batch]` function.
pub(crate) struct BatchModel {
    pub(crate) krate: TokenStream,
    pub(crate) cache: Option<Expr>,
    pub(crate) prefix: Prefix,
    /// The key of one element: the batch argument's name stands for the element.
    pub(crate) key: Key,
    pub(crate) tags: Vec<Template>,
    pub(crate) ttl: Option<Ttl>,
    pub(crate) level: LevelArg,
    pub(crate) batch: BatchArg,
    /// The other arguments, by name: each run of the body gets a clone of each.
    pub(crate) others: Vec<OtherArg>,
    /// The declared return type.
    pub(crate) ret: Type,
    /// `Result<Map, E>` or the map itself.
    pub(crate) is_result: bool,
    /// The value type of the map.
    pub(crate) value: Type,
}

/// The batch argument.
pub(crate) struct BatchArg {
    pub(crate) ident: Ident,
    /// `mut` on its binding.
    pub(crate) mutable: bool,
    pub(crate) form: BatchForm,
    /// The declared type.
    pub(crate) ty: Type,
}

/// How the batch is passed.
pub(crate) enum BatchForm {
    /// `Vec<K>`: the body gets a `Vec` of the missing keys.
    Vec,
    /// `&[K]`: the body gets a slice of the missing keys.
    Slice(Box<Type>),
}

/// An argument other than the batch.
pub(crate) struct OtherArg {
    pub(crate) ident: Ident,
    pub(crate) mutable: bool,
}

/// The keys' type if `ty` is a batch (`Vec<K>` or `&[K]`).
fn batch_form(ty: &Type) -> Option<BatchForm> {
    match ty {
        Type::Paren(inner) => batch_form(&inner.elem),
        Type::Group(inner) => batch_form(&inner.elem),
        Type::Reference(reference) if reference.mutability.is_none() => match &*reference.elem {
            Type::Slice(slice) => Some(BatchForm::Slice(slice.elem.clone())),
            _ => None,
        },
        Type::Path(path) => {
            let last = path.path.segments.last()?;
            (last.ident == "Vec" && type_args(&last.arguments).len() == 1).then_some(BatchForm::Vec)
        }
        _ => None,
    }
}

/// The type arguments of a path segment.
fn type_args(arguments: &PathArguments) -> Vec<&Type> {
    match arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(ty) => Some(ty),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The value type if `ty` is a map (`HashMap<K, V, ..>` or `BTreeMap<K, V>`).
fn map_value(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Paren(inner) => map_value(&inner.elem),
        Type::Group(inner) => map_value(&inner.elem),
        Type::Path(path) => {
            let last = path.path.segments.last()?;
            if last.ident != "HashMap" && last.ident != "BTreeMap" {
                return None;
            }
            type_args(&last.arguments).get(1).copied()
        }
        _ => None,
    }
}

const RETURNS: &str = "#[cached_batch] returns the values it has by key: the return type must be \
                       `HashMap<K, V>` or `Result<HashMap<K, V>, E>` (or a `BTreeMap`), with `K` \
                       the type of the batch argument's keys";

impl BatchModel {
    /// Parses and checks the attribute's arguments against `function`.
    pub(crate) fn parse(args: TokenStream, function: &LightFn) -> syn::Result<Self> {
        let args: KeyArgs = args::parse(args)?;
        let krate = args::crate_path(args.krate.as_ref());
        let mut errors = Errors::default();
        let (batch, others) = arguments(function, &mut errors);
        let (ret, is_result, value) = returned_map(function, &mut errors);
        let prefix = Prefix::of(args.key_prefix, function, &mut errors);

        // In the key, the batch argument's name stands for one element, a reference.
        let mut params = Params::of(&function.sig);
        let batch_name = batch.as_ref().map(|batch| batch.ident.unraw().to_string());
        for param in &mut params.named {
            if Some(param.name()) == batch_name {
                param.by_ref = true;
            }
        }
        let (key, tags) = key_and_tags(args.key.as_ref(), &args.tags, &params, &krate, &mut errors);
        if let (Some(batch), Some(Str(lit))) = (&batch, &args.key)
            && let Ok(template) = Template::parse(lit, &params)
            && !names(&template, &batch.ident)
        {
            errors.push(syn::Error::new(
                lit.span(),
                format!(
                    "the key of #[cached_batch] must name the batch argument, as in `{{{}}}`: \
                     each of its keys gets an entry of its own",
                    batch.ident.unraw()
                ),
            ));
        }
        if let Some(batch) = &batch {
            for tag in tags.iter().filter(|tag| names(tag, &batch.ident)) {
                errors.push(syn::Error::new(
                    tag.span(),
                    format!(
                        "the tags of #[cached_batch] are the same for every key of a call, so \
                         they cannot name the batch argument `{}`",
                        batch.ident
                    ),
                ));
            }
        }
        errors.finish()?;
        Ok(Self {
            krate,
            cache: args.cache,
            prefix,
            key: key.expect("no error means a key"),
            tags,
            ttl: args.ttl,
            level: args.level.unwrap_or(LevelArg::Both),
            batch: batch.expect("no error means a batch argument"),
            others,
            ret: ret.expect("no error means a return type"),
            is_result,
            value: value.expect("no error means a value type"),
        })
    }
}

/// Whether a template names the batch argument.
fn names(template: &Template, batch: &Ident) -> bool {
    let batch = batch.unraw().to_string();
    template.vars().any(|var| var.argument() == batch)
}

/// The batch argument and the others; errors for a receiver or argument the body cannot be
/// run with more than once, and for no batch argument or several.
fn arguments(function: &LightFn, errors: &mut Errors) -> (Option<BatchArg>, Vec<OtherArg>) {
    let mut batch: Option<BatchArg> = None;
    let mut others = Vec::new();
    for input in &function.sig.inputs {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                if !matches!(receiver_kind(receiver), Recv::Shared(_)) {
                    let span = match &receiver.mutability {
                        Some(mutability) => mutability.span(),
                        None => receiver.self_token.span(),
                    };
                    errors.push(syn::Error::new(
                        span,
                        "#[cached_batch] methods take `&self`: the body may run more than once \
                         per call (once per `MAX_BATCH_LOAD` keys to load)",
                    ));
                }
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        let pat = match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => pat,
            pat => {
                errors.push(syn::Error::new(
                    pat.span(),
                    "#[cached_batch] needs every argument bound to a name: each run of the body \
                     gets a clone of it",
                ));
                continue;
            }
        };
        let mutable = pat.mutability.is_some();
        if let Some(form) = batch_form(&typed.ty) {
            match &batch {
                Some(first) => errors.push(syn::Error::new(
                    typed.ty.span(),
                    format!(
                        "#[cached_batch] takes exactly one batch argument (`Vec<K>` or `&[K]`), \
                         and `{}` is one already: pass other lists inside a type of your own",
                        first.ident
                    ),
                )),
                None => {
                    batch = Some(BatchArg {
                        ident: pat.ident.clone(),
                        mutable,
                        form,
                        ty: (*typed.ty).clone(),
                    })
                }
            }
            continue;
        }
        if let Type::Reference(reference) = &*typed.ty
            && let Some(mutability) = &reference.mutability
        {
            errors.push(syn::Error::new(
                mutability.span(),
                "#[cached_batch] cannot pass a `&mut` argument to its body, which may run more \
                 than once per call: pass a shared reference",
            ));
        }
        others.push(OtherArg {
            ident: pat.ident.clone(),
            mutable,
        });
    }
    if batch.is_none() {
        let span = match function.sig.inputs.is_empty() {
            true => function.sig.paren_token.span.join(),
            false => function.sig.inputs.span(),
        };
        errors.push(syn::Error::new(
            span,
            "#[cached_batch] needs one batch argument holding the keys to look up: `Vec<K>` or \
             `&[K]`, such as `ids: &[u64]`",
        ));
    }
    (batch, others)
}

/// The declared return type, whether it is a `Result`, and the map's value type.
fn returned_map(function: &LightFn, errors: &mut Errors) -> (Option<Type>, bool, Option<Type>) {
    let ret = Ret::of(&function.sig.output, true);
    let span: Span = match &function.sig.output {
        ReturnType::Default => function.sig.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    let is_result = matches!(ret.shape, Shape::Result);
    let Some(value) = map_value(&ret.value) else {
        let span = match (&function.sig.output, is_result) {
            (ReturnType::Type(..), true) => ret.value.span(),
            _ => span,
        };
        errors.push(syn::Error::new(span, RETURNS));
        return (None, is_result, None);
    };
    if has_impl_trait(value) {
        errors.push(syn::Error::new(
            value.span(),
            "#[cached_batch] cannot cache a value of an `impl Trait` type: return a concrete type",
        ));
    }
    (Some(ret.ty.clone()), is_result, Some(value.clone()))
}
