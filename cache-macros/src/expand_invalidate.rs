//! `#[invalidate(...)]`: code generation from the checked description (`invalidate_model.rs`).
//!
//! ```text
//! fn f(args..) -> R {
//!     let cache = &(cache expr);
//!     let keys = [render(template)..];          // rendered before the body takes the arguments
//!     let patterns = [..]; let tags = [..];
//!     (before = true: invalidate here)
//!     let body = async move { original body };  // or `move || -> R { original body }`
//!     let ret: R = body.await;
//!     if ret is Ok (or R is not a Result) { invalidate }
//!     ret
//! }
//! ```
//!
//! Several `#[invalidate]` attributes on one function each wrap the function again: each one
//! acts on its own, in the order described in the `invalidate` docs.

use proc_macro2::{Span, TokenStream};
use quote::quote;

use crate::body::{Body, internal};
use crate::cache_expr;
use crate::invalidate_model::InvalidateModel;
use crate::item::LightFn;
use crate::render;

/// Parses, checks, then generates.
pub(crate) fn expand(args: TokenStream, function: &LightFn) -> syn::Result<TokenStream> {
    let model = InvalidateModel::parse(args, function)?;
    Ok(generate(&model, function))
}

/// The generated function.
fn generate(model: &InvalidateModel, function: &LightFn) -> TokenStream {
    let InvalidateModel {
        krate,
        keys,
        patterns,
        tags,
        ..
    } = model;
    let is_async = function.sig.asyncness.is_some();
    let cache = internal("__cache");
    let key_list = internal("__cache_keys");
    let pattern_list = internal("__cache_patterns");
    let tag_list = internal("__cache_tags");
    let item = internal("__cache_item");
    let ret_var = internal("__cache_ret");

    let bind_cache = cache_expr::bind(model.cache.as_ref(), krate, &cache);

    let mut rendered = TokenStream::new();
    let mut actions = TokenStream::new();
    let call = |method: &str| {
        let name = if is_async {
            syn::Ident::new(method, Span::call_site())
        } else {
            syn::Ident::new(&format!("{method}_blocking"), Span::call_site())
        };
        let wait = is_async.then(|| quote!(.await));
        (name, wait)
    };
    if !keys.is_empty() {
        let values = keys.iter().map(|key| render::key(key, krate));
        rendered.extend(quote!(let #key_list = [#(#values),*];));
        let (method, wait) = call("invalidate");
        actions.extend(quote! {
            for #item in &#key_list {
                #cache.#method(#item)#wait;
            }
        });
    }
    if !patterns.is_empty() {
        let values = patterns
            .iter()
            .map(|pattern| render::string(pattern, krate));
        rendered.extend(quote!(let #pattern_list = [#(#values),*];));
        let (method, wait) = call("invalidate_pattern");
        actions.extend(quote! {
            for #item in &#pattern_list {
                #cache.#method(#item)#wait;
            }
        });
    }
    if !tags.is_empty() {
        let values = tags.iter().map(|tag| render::string(tag, krate));
        rendered.extend(quote!(let #tag_list = [#(#values),*];));
        let refs = (0..tags.len()).map(syn::Index::from);
        let (method, wait) = call("invalidate_tags");
        actions.extend(quote! {
            #cache.#method(&[#(::std::string::String::as_str(&#tag_list[#refs])),*])#wait;
        });
    }
    if model.all {
        let (method, wait) = call("clear");
        actions.extend(quote!(#cache.#method()#wait;));
    }

    let body = Body::of(function);
    let define_body = &body.define;
    let run_body = body.run_into(&ret_var);
    let code = if model.before {
        quote! {
            #actions
            #define_body
            #run_body
            #ret_var
        }
    } else if model.returns_result {
        quote! {
            #define_body
            #run_body
            if ::core::result::Result::is_ok(&#ret_var) {
                #actions
            }
            #ret_var
        }
    } else {
        quote! {
            #define_body
            #run_body
            #actions
            #ret_var
        }
    };

    let LightFn {
        attrs, vis, sig, ..
    } = function;
    quote! {
        #(#attrs)*
        #vis #sig {
            #bind_cache
            #rendered
            #code
        }
    }
}
