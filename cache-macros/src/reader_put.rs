//! `#[cache_put(reader)]`: both halves of the link between a put and the `#[cached]` function
//! it feeds.
//!
//! - The reader (`#[cached]` with companions) gets a hidden companion
//!   `__{name}_put_plan(context, args)`: generic over the put's arguments, it renders the
//!   reader's key and tags from them by name, evaluates the reader's `cache` expression and
//!   returns a `PutPlan<V, Level>` of the reader's value type and level.
//! - The put passes references to its arguments in a local struct implementing
//!   `PutArg<Name>` for each of its argument names, and checks the plan's value type against
//!   its own at its return type.
//!
//! Names travel as types (`id` is `(Ch<'i'>, Ch<'d'>)`), since neither expansion can see the
//! other. A reader whose key or tags use a field path or `self`, or whose `cache` is not a
//! static or a field of `self`, gets a companion with a bound no put meets, which explains the
//! free-standing form.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::args::LevelArg;
use crate::body::internal;
use crate::cache_expr;
use crate::cached_model::CachedModel;
use crate::expand_cached::entry_options;
use crate::item::LightFn;
use crate::params::Params;

/// The type spelling the argument name `name`.
fn name_type(name: &str, krate: &TokenStream) -> TokenStream {
    let chars = name.chars().map(|c| quote!(#krate::__private::Ch<#c>));
    quote!((#(#chars,)*))
}

/// The companion of the reader called `reader`.
pub(crate) fn plan_ident(reader: &Ident) -> Ident {
    format_ident!("__{}_put_plan", reader.unraw(), span = reader.span())
}

/// The level marker type of `level`.
fn level_type(level: LevelArg, krate: &TokenStream) -> TokenStream {
    match level {
        LevelArg::Both => quote!(#krate::__private::Both),
        LevelArg::L1 => quote!(#krate::__private::L1Only),
    }
}

/// Whether a `cache = ..` expression names a place that outlives the companion's call (a
/// static, a field of `self`), so the companion can return a borrow of it: the forms the put
/// can take from the reader. Calls, temporaries and `.await` are not.
fn is_place(expr: &syn::Expr) -> bool {
    match expr {
        syn::Expr::Path(_) => true,
        syn::Expr::Field(field) => is_place(&field.base),
        syn::Expr::Paren(inner) => is_place(&inner.expr),
        syn::Expr::Group(inner) => is_place(&inner.expr),
        syn::Expr::Reference(reference) => is_place(&reference.expr),
        _ => false,
    }
}

/// Whether `tokens` mention `name` as an identifier (`self`, `await`).
fn mentions(tokens: TokenStream, name: &str) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => ident == name,
        proc_macro2::TokenTree::Group(group) => mentions(group.stream(), name),
        _ => false,
    })
}

/// The reader's companion `__{name}_put_plan`.
pub(crate) fn reader_companion(
    model: &CachedModel,
    function: &LightFn,
    attrs: &TokenStream,
) -> TokenStream {
    let krate = &model.krate;
    let sig = &function.sig;
    let params = Params::of(sig);
    let plan = plan_ident(&sig.ident);
    let (args_ty, args, context_ty, lifetime) = (
        internal("__CacheArgs"),
        internal("__cache_args"),
        internal("__CacheContext"),
        syn::Lifetime::new("'__cache", Span::mixed_site()),
    );
    let names: Vec<&str> = model
        .key
        .names()
        .chain(
            model
                .tags
                .iter()
                .flat_map(|tag| tag.vars().map(|var| var.text.as_str())),
        )
        .collect();
    let supported = names.iter().all(|name| !name.contains('.'))
        && model.cache.as_ref().is_none_or(|expr| {
            is_place(expr)
                && !params
                    .named
                    .iter()
                    .any(|param| mentions(quote!(#expr), &param.ident.to_string()))
        });
    let uses_self = model
        .cache
        .as_ref()
        .is_some_and(|expr| mentions(quote!(#expr), "self"))
        && params.receiver;

    let mut bounds = Vec::new();
    let mut bind = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    if supported {
        for name in names {
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            let Some(param) = params.get(name) else {
                continue;
            };
            let ident = &param.ident;
            let name_ty = name_type(name, krate);
            let span = ident.span();
            bounds.push(quote_spanned!(span=>
                #args_ty: #krate::__private::PutArg<#name_ty>,
                <#args_ty as #krate::__private::PutArg<#name_ty>>::Value: ::core::fmt::Display,
            ));
            bind.push(quote! {
                let #ident: &<#args_ty as #krate::__private::PutArg<#name_ty>>::Value =
                    #krate::__private::PutArg::<#name_ty>::put_arg(#args);
            });
        }
    } else {
        let span = sig.ident.span();
        bounds.push(quote_spanned!(span=> #args_ty: #krate::__private::PutReaderSupported,));
    }

    let value_ty = &model.ret.value;
    let level_ty = level_type(model.level, krate);
    let cache = internal("__cache");
    let bind_cache = cache_expr::bind(model.cache.as_ref(), krate, &cache);
    let prefix = model.prefix_tokens();
    let pieces = model.key.pieces();
    let values = model.key.names().map(|name| {
        let ident = params.get(name).map(|param| &param.ident);
        quote!(#krate::__private::template_value(#ident),)
    });
    let options = entry_options(krate, model.ttl, &model.tags, None, model.level);
    let key = internal("__cache_key");
    let body = if supported {
        quote! {
            #(#bind)*
            #bind_cache
            let #key = #krate::__private::render_key(
                &#krate::__private::KeyTemplate::new(#prefix, #pieces),
                (#(#values)*),
            );
            #krate::__private::put_plan::<#value_ty, #level_ty>(#cache, #key, #options)
        }
    } else {
        quote!(::core::unreachable!(
            "no #[cache_put] meets this reader's bound"
        ))
    };
    let context = if uses_self {
        quote!(&#lifetime self)
    } else {
        quote!(_: &#lifetime #context_ty)
    };
    let context_param = (!uses_self).then(|| quote!(#context_ty: ?::core::marker::Sized,));
    let generics = sig.generics.params.iter();
    let generics = quote!(#(#generics,)*);
    let where_clause = sig.generics.where_clause.as_ref().map(|clause| {
        let predicates = clause.predicates.iter();
        quote!(#(#predicates,)*)
    });
    let vis = &function.vis;
    quote! {
        #[doc(hidden)]
        #attrs
        #[allow(dead_code, non_snake_case, unused_variables, clippy::needless_lifetimes)]
        #vis fn #plan<#lifetime, #generics #context_param #args_ty>(
            #context,
            #args: &#args_ty,
        ) -> #krate::__private::PutPlan<#lifetime, #value_ty, #level_ty>
        where
            #(#bounds)*
            #where_clause
        {
            #body
        }
    }
}

/// The put's side: `{ struct Args(..); impl PutArg<name> for Args ..; checked_plan(reader
/// companion(context, &Args(..))) }`, a `PutPlan` of the put's value type.
pub(crate) fn plan_from_reader(
    reader: &syn::Path,
    function: &LightFn,
    value_ty: &syn::Type,
    krate: &TokenStream,
) -> TokenStream {
    let params = Params::of(&function.sig);
    let args_ty = internal("__CachePutArgs");
    let count = params.named.len();
    let type_params: Vec<Ident> = (0..count)
        .map(|index| Ident::new(&format!("__T{index}"), Span::mixed_site()))
        .collect();
    let lifetime = syn::Lifetime::new("'__cache", Span::mixed_site());
    let tuple = quote!((#(&#lifetime #type_params,)*));
    let impls = params.named.iter().enumerate().map(|(index, param)| {
        let name_ty = name_type(&param.name(), krate);
        let field = syn::Index::from(index);
        let value = &type_params[index];
        quote! {
            impl<#lifetime, #(#type_params: ?::core::marker::Sized),*>
                #krate::__private::PutArg<#name_ty> for #args_ty<#tuple>
            {
                type Value = #value;
                fn put_arg(&self) -> &#value {
                    (self.0).#field
                }
            }
        }
    });
    let borrowed = params
        .named
        .iter()
        .map(|param| param.borrowed(param.ident.span()));
    let context = match function.sig.inputs.first() {
        Some(syn::FnArg::Receiver(receiver)) if receiver.reference.is_some() => {
            if receiver.mutability.is_some() {
                quote!(&*self)
            } else {
                quote!(self)
            }
        }
        Some(syn::FnArg::Receiver(_)) => quote!(&self),
        _ => quote!(&()),
    };
    let mut companion = reader.clone();
    if let Some(last) = companion.segments.last_mut() {
        last.ident = plan_ident(&last.ident);
        last.arguments = syn::PathArguments::None;
    }
    let plan = internal("__cache_plan");
    let check = quote_spanned!(value_ty.span()=>
        #krate::__private::checked_plan::<#value_ty, _>(#plan)
    );
    quote! {{
        #[allow(non_camel_case_types)]
        struct #args_ty<T>(T);
        #(#impls)*
        let #plan = #companion(#context, &#args_ty((#(#borrowed,)*)));
        #check
    }}
}
