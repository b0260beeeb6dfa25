//! `#[cached(...)]`: the generated function passes data and makes one engine call.
//!
//! ```text
//! fn f(args..) -> R {
//!     let cache = &(cache expr);
//!     static FN: CachedFn = CachedFn::new(KeyTemplate::new(prefix, &[pieces]), ..);
//!     let load = match lookup::<V, _>(cache, &FN, serde::<V>, (&arg0, &*arg1), || options) {
//!         Hit(v) => return wrap(v),
//!         Refresh(v, load) => { load.spawn(reload with clones); return wrap(v) } // background only
//!         Load(load) => load,
//!     };
//!     let body = async move { original body };   // or `move || -> R { original body }`
//!     unwrap(load.run(move || async move { to_result(body.await) }).await)
//! }
//! ```

use crate::item::LightFn;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::args::{self, CachedArgs, LevelArg, Str};
use crate::background;
use crate::body::{Body, internal};
use crate::cache_expr;
use crate::errors::Errors;
use crate::keys::Key;
use crate::params::Params;
use crate::render;
use crate::ret::{Ret, Shape, has_impl_trait};
use crate::template::Template;

pub(crate) fn expand(args: TokenStream, function: &LightFn) -> syn::Result<TokenStream> {
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
    let background_refresh = args.refresh_ahead.is_some() && background::plan(function).is_some();

    let cache = internal("__cache");
    let function_static = internal("__CACHED_FN");
    let value_ty = &ret.value;
    let value_span = value_ty.span();
    let value = internal("__cache_value");
    let load = internal("__cache_load");
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
    // Every call that needs `V: CachedValue` spells `V` (or is located) at the return type's
    // span, so an unfit value type is reported once, there.
    let lookup_fn = quote_spanned!(value_span=> #krate::__private::lookup::<#value_ty, _>);
    let is_async = function.sig.asyncness.is_some();

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

    let body = Body::of(function);
    // With `refresh_ahead` and owned arguments, the body moves into an inner function that a
    // background refresh can call with clones of the arguments (see `background`).
    let background = args.refresh_ahead.and_then(|_| background::plan(function));
    let (define_body, run_body) = match &background {
        Some(plan) => {
            let (inner, args) = (&plan.inner, &plan.args);
            let call = if is_async {
                quote!(#inner(#(#args),*).await)
            } else {
                quote!(#inner(#(#args),*))
            };
            let run = match &body.ret {
                Some(ty) => quote!(let #ret_var: #ty = #call;),
                None => quote!(let #ret_var = #call;),
            };
            (plan.inner_fn.clone(), run)
        }
        None => (body.define.clone(), body.run_into(&ret_var)),
    };
    // The load functions name the value type explicitly, so an unfit value type is blamed on
    // the return type, where `lookup` reports it: rustc then reports that bound once.
    let method = |name: &str| {
        let name = syn::Ident::new(name, value_span);
        let inferred = if name.to_string().ends_with("_blocking") {
            quote!(_, _)
        } else {
            quote!(_, _, _)
        };
        quote_spanned!(value_span=> #krate::__private::#name::<#value_ty, #inferred>)
    };
    let run_load = if is_async {
        let run = method("run");
        quote! {
            #run(#load, move || async move {
                #run_body
                #to_result
            }).await
        }
    } else {
        let run = method("run_blocking");
        quote! {
            #run(#load, move || {
                #run_body
                #to_result
            })
        }
    };
    let on_refresh = background.as_ref().map(|plan| {
        // Reload in the background with clones of the arguments; return the current value now.
        let inner = &plan.inner;
        let clones: Vec<_> = plan
            .args
            .iter()
            .map(|arg| internal(&format!("__cache_clone_{arg}")))
            .collect();
        let args = &plan.args;
        let spawn = if is_async {
            let spawn = method("spawn");
            quote! {
                #spawn(#load, move || async move {
                    let #ret_var = #inner(#(#clones),*).await;
                    #to_result
                })
            }
        } else {
            let spawn = method("spawn_blocking");
            quote! {
                #spawn(#load, move || {
                    let #ret_var = #inner(#(#clones),*);
                    #to_result
                })
            }
        };
        quote! {
            #krate::__private::Lookup::Refresh(#value, #load) => {
                #(let #clones = ::core::clone::Clone::clone(&#args);)*
                #spawn;
                return #hit;
            }
        }
    });

    let markers = key.markers();
    let parts = key.parts();
    let pieces = key.pieces();

    let LightFn {
        attrs, vis, sig, ..
    } = function;
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #bind_cache
            static #function_static: #krate::__private::CachedFn = #krate::__private::CachedFn::new(
                #krate::__private::KeyTemplate::new(#prefix, #pieces),
                #errors_are_failures,
                #background_refresh,
            );
            // The key's marker types live in this block only, out of the body's sight.
            let #load = {
                #markers
                match #lookup_fn(#cache, &#function_static, #serde, #parts, || #options) {
                    #krate::__private::Lookup::Hit(#value) => return #hit,
                    #on_refresh
                    #krate::__private::Lookup::Refresh(_, #load)
                    | #krate::__private::Lookup::Load(#load) => #load,
                }
            };
            #define_body
            let #result = #run_load;
            #finish
        }
    })
}
