//! `#[cache_put(...)]`: code generation from `put_model.rs`. The key and tags are rendered and
//! the cache expression evaluated before the body runs (the body may take the arguments); the
//! body's storable result is then written under the key.
//!
//! ```text
//! fn f(args..) -> R {
//!     let cache = &(cache expr);
//!     let key = render_key(&KeyTemplate::new(prefix, &[pieces]), (&arg0, ..));
//!     let options = EntryOptions::new().ttl(..).tags([..]);
//!     let ret: R = <body>;
//!     if let Ok(value) = &ret { put::<V>(cache, key, value.clone(), options).await }
//!     ret
//! }
//! ```

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::args::LevelArg;
use crate::body::{Body, internal};
use crate::cache_expr;
use crate::expand_cached::entry_options;
use crate::item::LightFn;
use crate::put_model::{PutModel, Target};
use crate::reader_put;
use crate::render;
use crate::ret::Shape;

/// Parses, checks, then generates.
pub(crate) fn expand(args: TokenStream, function: &LightFn) -> syn::Result<TokenStream> {
    let model = PutModel::parse(args, function)?;
    Ok(generate(&model, function))
}

fn generate(model: &PutModel, function: &LightFn) -> TokenStream {
    let krate = &model.krate;
    let (cache, key, options, ret, value, plan) = (
        internal("__cache"),
        internal("__cache_key"),
        internal("__cache_options"),
        internal("__cache_ret"),
        internal("__cache_value"),
        internal("__cache_plan"),
    );
    let is_async = function.sig.asyncness.is_some();
    let value_ty = &model.ret.value;
    let bind_cache = model
        .cache
        .as_ref()
        .map(|expr| cache_expr::bind(Some(expr), krate, &cache));
    let (prepare, put_call) = match &model.target {
        Target::Key {
            prefix,
            key: template,
            level,
        } => {
            let bind_cache = cache_expr::bind(model.cache.as_ref(), krate, &cache);
            let (markers, parts, pieces) =
                (template.markers(), template.parts(), template.pieces());
            let entry = entry_options(krate, model.ttl, &model.tags, None, *level);
            // `put` and `put_blocking` infer how the value goes to L2 (one error at the value
            // type when it cannot); the L1 forms have no serde bound.
            let (put, how) = match (level, is_async) {
                (LevelArg::Both, true) => ("put", quote!(, _)),
                (LevelArg::Both, false) => ("put_blocking", quote!(, _)),
                (LevelArg::L1, true) => ("put_l1", quote!()),
                (LevelArg::L1, false) => ("put_l1_blocking", quote!()),
            };
            let put = syn::Ident::new(put, value_ty.span());
            let put = quote_spanned!(value_ty.span()=> #krate::__private::#put::<#value_ty #how>);
            let prepare = quote! {
                #bind_cache
                let #key = {
                    #markers
                    #krate::__private::render_key(
                        &#krate::__private::KeyTemplate::new(#prefix, #pieces),
                        #parts,
                    )
                };
                let #options = #entry;
            };
            let call = quote!(#put(#cache, #key, ::core::clone::Clone::clone(#value), #options));
            (prepare, call)
        }
        Target::Reader(reader) => {
            let from_reader = reader_put::plan_from_reader(reader, function, value_ty, krate);
            let mut adjust = TokenStream::new();
            if let Some(ttl) = model.ttl {
                let ttl = ttl.to_tokens();
                adjust.extend(quote!(let #plan = #plan.ttl(#ttl);));
            }
            if !model.tags.is_empty() {
                let tags = model.tags.iter().map(|tag| render::string(tag, krate));
                adjust.extend(quote!(let #plan = #plan.tags([#(#tags),*]);));
            }
            if bind_cache.is_some() {
                adjust.extend(quote!(let #plan = #plan.cache(#cache);));
            }
            let prepare = quote! {
                #bind_cache
                let #plan = #from_reader;
                #adjust
            };
            let store = if is_async {
                quote!(store)
            } else {
                quote!(store_blocking)
            };
            (
                prepare,
                quote!(#plan.#store(::core::clone::Clone::clone(#value))),
            )
        }
    };
    let put_call = if is_async {
        quote!(#put_call.await)
    } else {
        put_call
    };
    let store = match model.ret.shape {
        Shape::Result => quote! {
            if let ::core::result::Result::Ok(#value) = &#ret { #put_call; }
        },
        Shape::ResultOption => quote! {
            if let ::core::result::Result::Ok(::core::option::Option::Some(#value)) = &#ret {
                #put_call;
            }
        },
        Shape::Option => quote! {
            if let ::core::option::Option::Some(#value) = &#ret { #put_call; }
        },
        Shape::Plain => quote! {
            { let #value = &#ret; #put_call; }
        },
    };
    let body = Body::of(function);
    let (define, run_into) = (&body.define, body.run_into(&ret));
    let LightFn {
        attrs, vis, sig, ..
    } = function;
    quote! {
        #(#attrs)*
        #vis #sig {
            #prepare
            #define
            #run_into
            #store
            #ret
        }
    }
}
