//! `#[cached(...)]`: the generated function.
//!
//! ```text
//! fn f(args..) -> R {
//!     let cache = &(cache expr);
//!     static SITE: Site = Site::new();
//!     let part0 = &arg0; ..                      // checked, borrowed key parts
//!     let store = store_for(&SITE, cache, serde::<V>, &|| (owned parts..));
//!     let hash = { hash every part };            // no allocation, no formatting
//!     let refresh = match store.lookup(hash, |k| k.0 == *part0 && ..) {
//!         Hit(v) => return wrap(v), Refresh => true, Miss => false,
//!     };
//!     let miss = MissKey { key, skey: render key, options, errors_are_failures };
//!     let body = async move { original body };   // or `move || -> R { original body }`
//!     unwrap(store.load(hash, miss, refresh, move || async move { to_result(body.await) }).await)
//! }
//! ```

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ItemFn;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::args::{self, CachedArgs, LevelArg, Str};
use crate::background;
use crate::body::{Body, internal, internal_at};
use crate::cache_expr;
use crate::errors::Errors;
use crate::keys::Key;
use crate::params::Params;
use crate::render;
use crate::ret::{Ret, Shape, has_impl_trait};
use crate::template::Template;

pub(crate) fn expand(args: TokenStream, function: &ItemFn) -> syn::Result<TokenStream> {
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
    if let Some(Str(prefix)) = &args.key_prefix
        && prefix.value().is_empty()
    {
        errors.push(syn::Error::new(
            prefix.span(),
            "`key_prefix` must not be empty (leave it out for the default: module path and \
             function name)",
        ));
    }
    let key = match &args.key {
        Some(Str(lit)) => errors
            .take(Template::parse(lit, &params))
            .map(|template| Key::from_template(template, &krate)),
        None => errors.take(Key::default_key(&params, &krate)),
    };
    let tags: Vec<Template> = args
        .tags
        .0
        .iter()
        .filter_map(|lit| errors.take(Template::parse(lit, &params)))
        .collect();
    errors.finish()?;
    let key = key.expect("no error means a key");

    let cache = internal("__cache");
    let site = internal("__CACHE_SITE");
    let owned = internal("__cache_owned_key");
    let value_ty = &ret.value;
    let value_span = value_ty.span();
    let store = internal_at("__cache_store", value_span);
    let hash = internal("__cache_hash");
    let hasher = internal("__cache_hasher");
    let refresh = internal("__cache_refresh");
    let value = internal("__cache_value");
    let miss = internal("__cache_miss");
    let result = internal("__cache_result");
    let ret_var = internal("__cache_ret");
    let never = internal("__cache_never");

    let bind_cache = cache_expr::bind(args.cache.as_ref(), &krate, &cache);

    let level = args.level.unwrap_or(LevelArg::Both);
    let serde = match level {
        LevelArg::L1 => quote_spanned!(value_span=> #krate::__private::l1_value::<#value_ty>),
        LevelArg::Both => {
            quote_spanned!(value_span=> #krate::__private::serde_value_of::<#value_ty>)
        }
    };
    // Every call that needs `V: CachedValue` spells `V` with the return type's span, so an
    // unfit value type is reported once, there.
    let store_call = quote_spanned!(value_span=>
        #krate::__private::store_for::<_, #value_ty, _>(&#site, #cache, #serde, &#owned)
    );
    let hasher_call =
        quote_spanned!(value_span=> #krate::__private::hasher::<_, #value_ty>(&#store));
    let lookup_fn = quote_spanned!(value_span=> #krate::__private::lookup::<_, #value_ty, _>);
    let load_fn = if function.sig.asyncness.is_some() {
        quote_spanned!(value_span=> #krate::__private::load::<_, #value_ty, _, _, _>)
    } else {
        quote_spanned!(value_span=> #krate::__private::load_blocking::<_, #value_ty, _, _>)
    };

    let prefix = match &args.key_prefix {
        Some(Str(prefix)) => quote!(#prefix),
        None => {
            let name = format!("::{}", function.sig.ident.unraw());
            quote!(::core::concat!(::core::module_path!(), #name))
        }
    };

    let mut options = quote!(#krate::__private::EntryOptions::new());
    if let Some(ttl) = args.ttl {
        let ttl = ttl.to_tokens();
        options.extend(quote!(.ttl(#ttl)));
    }
    if !tags.is_empty() {
        let tags = tags.iter().map(|tag| render::string(tag, &krate));
        options.extend(quote!(.tags([#(#tags),*])));
    }
    if let Some(fraction) = args.refresh_ahead {
        let fraction = proc_macro2::Literal::f64_unsuffixed(fraction.0);
        options.extend(quote!(.refresh_ahead(#fraction)));
    }
    if level == LevelArg::L1 {
        options.extend(quote!(.level(#krate::__private::Level::L1)));
    }

    let (hit, to_result, finish, errors_are_failures) = match ret.shape {
        Shape::Result => (
            quote!(::core::result::Result::Ok(#value)),
            quote!(#ret_var),
            quote!(#result),
            true,
        ),
        Shape::Option => (
            quote!(::core::option::Option::Some(#value)),
            quote!(::core::option::Option::ok_or(#ret_var, ())),
            quote!(::core::result::Result::ok(#result)),
            false,
        ),
        Shape::Plain => (
            quote!(#value),
            quote!(::core::result::Result::<_, ::core::convert::Infallible>::Ok(#ret_var)),
            quote! {
                match #result {
                    ::core::result::Result::Ok(#value) => #value,
                    ::core::result::Result::Err(#never) => match #never {},
                }
            },
            true,
        ),
    };

    let store_ref = quote_spanned!(value_span=> &#store);
    let body = Body::of(function);
    // With `refresh_ahead` and owned arguments, the body moves into an inner function that a
    // background refresh can call with clones of the arguments (see `background`).
    let background = args.refresh_ahead.and_then(|_| background::plan(function));
    let (define_body, run_body) = match &background {
        Some(plan) => {
            let (inner, args) = (&plan.inner, &plan.args);
            let call = match function.sig.asyncness {
                Some(_) => quote!(#inner(#(#args),*).await),
                None => quote!(#inner(#(#args),*)),
            };
            let run = match &body.ret {
                Some(ty) => quote!(let #ret_var: #ty = #call;),
                None => quote!(let #ret_var = #call;),
            };
            (plan.inner_fn.clone(), run)
        }
        None => (body.define.clone(), body.run_into(&ret_var)),
    };
    let load = if function.sig.asyncness.is_some() {
        quote! {
            #load_fn(#store_ref, #hash, #miss, #refresh, move || async move {
                #run_body
                #to_result
            }).await
        }
    } else {
        quote! {
            #load_fn(#store_ref, #hash, #miss, #refresh, move || {
                #run_body
                #to_result
            })
        }
    };

    let bind_parts = key.bind();
    let owned_closure = key.owned_closure();
    let hash_parts = key.hash(&hasher);
    let eq_closure = key.eq_closure();
    let render_key = key.render(&prefix);
    let make_miss = quote! {
        #krate::__private::MissKey {
            key: #owned(),
            skey: #render_key,
            options: #options,
            errors_are_failures: #errors_are_failures,
        }
    };
    let on_refresh = match &background {
        // Reload in a task with clones of the arguments; return the current value now.
        Some(plan) => {
            let inner = &plan.inner;
            let clones: Vec<_> = plan
                .args
                .iter()
                .map(|arg| internal(&format!("__cache_clone_{arg}")))
                .collect();
            let args = &plan.args;
            let (spawn_fn, loader) = if function.sig.asyncness.is_some() {
                (
                    quote_spanned!(value_span=> #krate::__private::spawn_refresh::<_, #value_ty, _, _, _>),
                    quote!(move || async move {
                        let #ret_var = #inner(#(#clones),*).await;
                        #to_result
                    }),
                )
            } else {
                (
                    quote_spanned!(value_span=> #krate::__private::spawn_refresh_blocking::<_, #value_ty, _, _>),
                    quote!(move || {
                        let #ret_var = #inner(#(#clones),*);
                        #to_result
                    }),
                )
            };
            quote! {
                #krate::__private::Lookup::Refresh(#value) => {
                    #(let #clones = ::core::clone::Clone::clone(&#args);)*
                    #spawn_fn(#store_ref, #hash, #make_miss, #loader);
                    return #hit;
                }
            }
        }
        // Reload inline: this caller waits, everyone else keeps the current value.
        None => quote!(#krate::__private::Lookup::Refresh(_) => true,),
    };

    let ItemFn {
        attrs, vis, sig, ..
    } = function;
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #bind_cache
            static #site: #krate::__private::Site = #krate::__private::Site::new();
            // The key's marker types live in this block only, out of the body's sight.
            let (#store, #hash, #refresh, #miss) = {
                #bind_parts
                let #owned = #owned_closure;
                let #store = #store_call;
                let #hash = {
                    let mut #hasher = #hasher_call;
                    #hash_parts
                    ::core::hash::Hasher::finish(&#hasher)
                };
                let #refresh = match #lookup_fn(#store_ref, #hash, #eq_closure) {
                    #krate::__private::Lookup::Hit(#value) => return #hit,
                    #on_refresh
                    #krate::__private::Lookup::Miss => false,
                };
                let #miss = #make_miss;
                (#store, #hash, #refresh, #miss)
            };
            #define_body
            let #result = #load;
            #finish
        }
    })
}
